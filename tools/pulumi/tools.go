//go:build tools

// Package tools pins the pulumi CLI's main package so that module tooling keeps its requirements.
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
