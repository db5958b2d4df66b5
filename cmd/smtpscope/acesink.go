package main

import "errors"

// AceSinkCmd is not built yet; its owner replaces this file.
type AceSinkCmd struct{}

// Run reports that the verb is not available yet.
func (c *AceSinkCmd) Run() error { return errors.New("not implemented yet") }
