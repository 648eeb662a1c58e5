package profile

import (
	"fmt"
	"os"
	"testing"
)

// helperEnv selects a re-executed test binary's helper instead of the tests.
const helperEnv = "KEDGE_PROFILE_TEST_HELPER"

// helpers are the functions a re-executed test binary can run; each returns
// the process exit code.
var helpers = map[string]func() int{}

func TestMain(m *testing.M) {
	if name := os.Getenv(helperEnv); name != "" {
		h, ok := helpers[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown helper %q\n", name)
			os.Exit(2)
		}
		os.Exit(h())
	}
	os.Exit(m.Run())
}
