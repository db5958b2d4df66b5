package main

import "errors"

// IndexCmd is not built yet; its owner replaces this file.
type IndexCmd struct{}

// Run reports that the verb is not available yet.
func (c *IndexCmd) Run() error { return errors.New("not implemented yet") }
