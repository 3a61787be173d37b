package main

import "errors"

// AreasCmd is the `flowtiles areas` subcommand.
type AreasCmd struct{}

// Run runs the subcommand.
func (c *AreasCmd) Run(env *Env) error { return errors.New("areas: not built yet") }
