package main

import "errors"

// SearchCmd is not built yet; its owner replaces this file.
type SearchCmd struct{}

// Run reports that the verb is not available yet.
func (c *SearchCmd) Run() error { return errors.New("not implemented yet") }
