package main

import "errors"

// ServeCmd is the `flowtiles serve` subcommand.
type ServeCmd struct{}

// Run runs the subcommand.
func (c *ServeCmd) Run(env *Env) error { return errors.New("serve: not built yet") }
