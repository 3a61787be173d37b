package main

import "errors"

// DemoCmd is the `flowtiles demo` subcommand.
type DemoCmd struct{}

// Run runs the subcommand.
func (c *DemoCmd) Run(env *Env) error { return errors.New("demo: not built yet") }
