package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/salesbridge/salesbridge/schemas"
)

// runSchemas implements `salesbridge schemas`: without flags it lists the
// files of the published contract (JSON Schemas and asyncapi.yaml), one
// name per line; with --out DIR it writes them into DIR (created if
// missing, existing files of the same names replaced).
func runSchemas(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("schemas", flag.ContinueOnError)
	flags.SetOutput(stderr)
	out := flags.String("out", "", "write the files into `DIR` instead of listing them")
	flags.Usage = func() {
		fmt.Fprintf(flags.Output(), "usage: salesbridge schemas [--out DIR]\n\n"+
			"Lists the files of the contract (%s: JSON Schema 2020-12 per message, and the AsyncAPI 3 document),\n"+
			"or writes them into DIR.\n\n", schemas.Version)
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		flags.Usage()
		return &exitError{2, fmt.Errorf("schemas: unexpected argument %q", flags.Arg(0))}
	}
	files := schemas.FS()
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		return fmt.Errorf("schemas: %w", err)
	}
	if *out == "" {
		for _, e := range entries {
			if _, err := fmt.Fprintln(stdout, e.Name()); err != nil {
				return fmt.Errorf("schemas: %w", err)
			}
		}
		return nil
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("schemas: %w", err)
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := writeSchemaFile(files, e.Name(), filepath.Join(*out, e.Name())); err != nil {
			return fmt.Errorf("schemas: %w", err)
		}
	}
	fmt.Fprintf(stdout, "wrote %d files to %s\n", len(entries), *out)
	return nil
}

// writeSchemaFile copies one embedded file to path through a temporary file, so
// that a reader of DIR never sees half a schema.
func writeSchemaFile(files fs.FS, name, path string) (err error) {
	b, err := fs.ReadFile(files, name)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+name+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(b); err != nil {
		return errors.Join(err, tmp.Close())
	}
	if err := tmp.Chmod(0o644); err != nil {
		return errors.Join(err, tmp.Close())
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
