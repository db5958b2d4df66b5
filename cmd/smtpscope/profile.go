package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// profileEnv names a file to write a CPU profile of the whole run to
// (`go tool pprof bin/smtpscope FILE`): the verbs' costs are measured
// where they run, the daemon included (it writes the profile when it
// stops on SIGINT or SIGTERM).
const profileEnv = "SMTPSCOPE_CPUPROFILE"

// startProfile starts the CPU profile asked for in the environment and
// returns what stops it (a no-op when none was asked for).
func startProfile() (stop func()) {
	path := os.Getenv(profileEnv)
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "smtpscope: %s=%s: %v\n", profileEnv, path, err)
		os.Exit(2)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "smtpscope: %s=%s: %v\n", profileEnv, path, err)
		}
	}
}
