package main

import "errors"

// PcapCmd is not built yet; its owner replaces this file.
type PcapCmd struct{}

// Run reports that the verb is not available yet.
func (c *PcapCmd) Run() error { return errors.New("not implemented yet") }
