package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"testing"
)

func TestRunBenchErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want error
		code int // exit code
	}{
		{"no benchmark", nil, nil, 2},
		{"unknown benchmark", []string{"speed"}, nil, 2},
		{"help", []string{"freshness", "-h"}, flag.ErrHelp, 1},
		{"unknown workload", []string{"freshness", "--workloads", "XL"}, nil, 2},
		{"unknown ordering", []string{"freshness", "--orderings", "random"}, nil, 2},
		{"extra argument", []string{"freshness", "now"}, nil, 2},
		{"no seeds", []string{"freshness", "--seeds", "0"}, nil, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"bench"}, tt.args...), &stdout, &stderr)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if c := exitCode(err); c != tt.code {
				t.Errorf("exit code %d, want %d", c, tt.code)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q", stdout.String())
			}
		})
	}
}

// TestRunBenchCanceled: the benchmark stops when its context ends (the
// engine itself is tested in package freshness).
func TestRunBenchCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"bench", "freshness", "--workloads", "S", "--orderings", "oldest", "--naive=false"}, &stdout, &stderr)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}
