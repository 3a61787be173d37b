package main

import "errors"

// MigrateCmd is the `flowtiles migrate` subcommand.
type MigrateCmd struct{}

// Run runs the subcommand.
func (c *MigrateCmd) Run(env *Env) error { return errors.New("migrate: not built yet") }
