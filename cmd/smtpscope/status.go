package main

import "errors"

// StatusCmd is not built yet; its owner replaces this file.
type StatusCmd struct{}

// Run reports that the verb is not available yet.
func (c *StatusCmd) Run() error { return errors.New("not implemented yet") }
