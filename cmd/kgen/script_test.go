package main

import (
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets testscript run this test binary as the kgen command.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"kgen": func() {
			if err := run(os.Stdout, os.Stderr, os.Args[1:]); err != nil {
				var ee *exitError
				if errors.As(err, &ee) {
					os.Exit(ee.code)
				}
				fmt.Fprintf(os.Stderr, "kgen: %v\n", err)
				os.Exit(1)
			}
		},
	})
}

// TestScript runs the CLI scripts in testdata/script (testscript format).
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{Dir: "testdata/script"})
}
