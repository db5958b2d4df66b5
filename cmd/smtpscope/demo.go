package main

import "errors"

// DemoCmd is not built yet; its owner replaces this file.
type DemoCmd struct{}

// Run reports that the verb is not available yet.
func (c *DemoCmd) Run() error { return errors.New("not implemented yet") }
