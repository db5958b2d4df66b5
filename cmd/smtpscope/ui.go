package main

import "errors"

// UICmd is not built yet; its owner replaces this file.
type UICmd struct{}

// Run reports that the verb is not available yet.
func (c *UICmd) Run() error { return errors.New("not implemented yet") }
