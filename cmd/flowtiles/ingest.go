package main

import "errors"

// IngestCmd is the `flowtiles ingest` subcommand.
type IngestCmd struct{}

// Run runs the subcommand.
func (c *IngestCmd) Run(env *Env) error { return errors.New("ingest: not built yet") }
