package main

import "errors"

// ReindexCmd is not built yet; its owner replaces this file.
type ReindexCmd struct{}

// Run reports that the verb is not available yet.
func (c *ReindexCmd) Run() error { return errors.New("not implemented yet") }
