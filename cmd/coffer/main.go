// Package main builds coffer, the single Coffer binary: server, client CLI and, later,
// agent, CSI provider and injector. All logic lives in internal/cli.
package main

import (
	"os"

	"github.com/cofferhq/coffer/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args)) }
