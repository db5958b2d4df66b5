package main

import "errors"

// CollectCmd is not built yet; its owner replaces this file.
type CollectCmd struct{}

// Run reports that the verb is not available yet.
func (c *CollectCmd) Run() error { return errors.New("not implemented yet") }
