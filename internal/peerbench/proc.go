package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// children are the processes started and not yet reaped, by PID, so that
// an interrupted run stops exactly what it started (each child leads its
// own process group: a script's background server goes with it).
var children = struct {
	sync.Mutex
	m map[int]bool
}{m: map[int]bool{}}

func track(pid int, on bool) {
	children.Lock()
	defer children.Unlock()
	if on {
		children.m[pid] = true
	} else {
		delete(children.m, pid)
	}
}

// killChildren stops every tracked child's process group by its PID.
func killChildren() {
	children.Lock()
	defer children.Unlock()
	for pid := range children.m {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}

// Proc is one command to run: argv, where its standard output goes (a file
// path, "" for /dev/null), and a log file for its standard error.
type Proc struct {
	Argv   []string
	Stdout string
	Log    string
	Env    []string // added to the environment
}

func (p Proc) String() string { return strings.Join(p.Argv, " ") }

func (p Proc) command() (*exec.Cmd, []io.Closer, error) {
	cmd := exec.Command(p.Argv[0], p.Argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append(os.Environ(), p.Env...)
	var closers []io.Closer
	open := func(path string) (*os.File, error) {
		if path == "" {
			path = os.DevNull
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err == nil {
			closers = append(closers, f)
		}
		return f, err
	}
	out, err := open(p.Stdout)
	if err != nil {
		return nil, nil, err
	}
	errf, err := open(p.Log)
	if err != nil {
		closeAll(closers)
		return nil, nil, err
	}
	cmd.Stdout, cmd.Stderr = out, errf
	return cmd, closers, nil
}

func closeAll(cs []io.Closer) {
	for _, c := range cs {
		c.Close()
	}
}

// accounting is the run's figures from the reaped child.
func accounting(cmd *exec.Cmd, wall time.Duration) Run {
	r := Run{Wall: wall, CPU: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.MaxRSS = ru.Maxrss * 1024 // kilobytes on Linux
	}
	return r
}

// settle writes out every dirty page of the machine (sync(2)) before a
// run starts, outside its timing: no run pays for the write-back of the
// files the run before it left in the page cache (a `cp -r` never syncs;
// the kernel's flusher would then take CPU and disk from whatever runs
// next, and `pcap`'s syncfs would write them out as its own).
func settle() { syscall.Sync() }

// Exec runs p to completion and returns its accounting; a non-zero exit is
// an error quoting the end of its log.
func Exec(p Proc) (Run, error) {
	cmd, closers, err := p.command()
	if err != nil {
		return Run{}, err
	}
	defer closeAll(closers)
	settle()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Run{}, fmt.Errorf("%s: %w", p.Argv[0], err)
	}
	track(cmd.Process.Pid, true)
	err = cmd.Wait()
	wall := time.Since(start)
	track(cmd.Process.Pid, false)
	if err != nil {
		return Run{}, fmt.Errorf("%s: %w%s", p, err, logTail(p.Log))
	}
	return accounting(cmd, wall), nil
}

// Daemon is a started long-running child.
type Daemon struct {
	p     Proc
	cmd   *exec.Cmd
	start time.Time
	done  chan error
	cl    []io.Closer
}

// Start starts p without waiting for it.
func Start(p Proc) (*Daemon, error) {
	cmd, closers, err := p.command()
	if err != nil {
		return nil, err
	}
	d := &Daemon{p: p, cmd: cmd, done: make(chan error, 1), cl: closers}
	settle()
	d.start = time.Now()
	if err := cmd.Start(); err != nil {
		closeAll(closers)
		return nil, fmt.Errorf("%s: %w", p.Argv[0], err)
	}
	track(cmd.Process.Pid, true)
	go func() { d.done <- cmd.Wait() }()
	return d, nil
}

// Exited reports whether the daemon has exited (and why).
func (d *Daemon) Exited() (bool, error) {
	select {
	case err := <-d.done:
		d.done <- err
		return true, err
	default:
		return false, nil
	}
}

// Stop sends SIGTERM to the daemon's PID, waits up to grace for it to
// exit (then SIGKILL to its process group), and returns its accounting.
func (d *Daemon) Stop(grace time.Duration) (Run, error) {
	defer closeAll(d.cl)
	pid := d.cmd.Process.Pid
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case err = <-d.done:
	case <-time.After(grace):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		err = <-d.done
		err = fmt.Errorf("%s: did not stop within %s of SIGTERM (killed): %v", d.p.Argv[0], grace, err)
	}
	wall := time.Since(d.start)
	// The daemon's own group may hold helpers it started: stop them too.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	track(pid, false)
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.Exited() {
		err = fmt.Errorf("%s: %w%s", d.p.Argv[0], err, logTail(d.p.Log))
	} else if errors.As(err, &ee) {
		err = nil // ended by our signal
	}
	return accounting(d.cmd, wall), err
}

// logTail is the end of a log file, for error messages.
func logTail(path string) string {
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 1200 {
		b = b[len(b)-1200:]
	}
	return "\n  " + path + ":\n" + string(b)
}
