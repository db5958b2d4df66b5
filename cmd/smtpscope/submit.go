package main

import "errors"

// SubmitCmd is not built yet; its owner replaces this file.
type SubmitCmd struct{}

// Run reports that the verb is not available yet.
func (c *SubmitCmd) Run() error { return errors.New("not implemented yet") }
