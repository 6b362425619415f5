package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/salesbridge/salesbridge/schemas"
)

func TestRunSchemasLists(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := runSchemas(context.Background(), nil, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != len(schemas.Names())+1 {
		t.Errorf("listed %d files, want %d schemas + asyncapi.yaml:\n%s", len(lines), len(schemas.Names()), stdout.String())
	}
	for _, want := range []string{"asyncapi.yaml", "order.json", "command.json", "order.status_changed.json"} {
		if !strings.Contains(stdout.String(), want+"\n") {
			t.Errorf("%s not listed", want)
		}
	}
}

func TestRunSchemasWrites(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "contract", "v1")
	var stdout, stderr bytes.Buffer
	if err := runSchemas(context.Background(), []string{"--out", dir}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	err := fs.WalkDir(schemas.FS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		want, err := fs.ReadFile(schemas.FS(), path)
		if err != nil {
			return err
		}
		got, err := os.ReadFile(filepath.Join(dir, path))
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the embedded file", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(schemas.Names())+1 {
		t.Errorf("%d files in %s, want %d (temporary files left?)", len(entries), dir, len(schemas.Names())+1)
	}
	// Writing again replaces the files.
	if err := runSchemas(context.Background(), []string{"--out", dir}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
}

func TestRunSchemasErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want error
		code int // exit code
	}{
		{"help", []string{"-h"}, flag.ErrHelp, 1},
		{"unknown flag", []string{"--bogus"}, nil, 1},
		{"extra argument", []string{"list"}, nil, 2},
		{"out is a file", []string{"--out", file}, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := runSchemas(context.Background(), tt.args, &stdout, &stderr)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if c := exitCode(err); c != tt.code {
				t.Errorf("exit code %d, want %d", c, tt.code)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	if err := runSchemas(ctx, []string{"--out", t.TempDir()}, &stdout, &stderr); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}
