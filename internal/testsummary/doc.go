// Command testsummary runs `go test -json ...` (the command line after
// its own arguments) and prints what plain `go test` prints — each
// package's ok/FAIL line, the output of failing tests, build errors —
// then one closing block: "skipped: N tests" with each skipped test and
// the message it gave, so that what a run did not check is visible. It
// exits with the status of the command it ran (`make test` uses it; .ci
// runs `make test`).
//
// Lines of the command's standard output that are not test2json events
// are passed through as they are; its standard error goes straight to
// ours.
//
// It imports nothing of ours.
package main
