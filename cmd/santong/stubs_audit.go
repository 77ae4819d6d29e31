package main

import (
	"context"
	"errors"
)

func cmdVerify(ctx context.Context, c *cli, args []string) error { return errors.New("not built yet") }
func cmdAuditReplay(ctx context.Context, c *cli, args []string) error {
	return errors.New("not built yet")
}
func cmdAuditExport(ctx context.Context, c *cli, args []string) error {
	return errors.New("not built yet")
}
func cmdLogCheckpoint(ctx context.Context, c *cli, args []string) error {
	return errors.New("not built yet")
}
func cmdLogVerify(ctx context.Context, c *cli, args []string) error {
	return errors.New("not built yet")
}
func cmdLogProve(ctx context.Context, c *cli, args []string) error {
	return errors.New("not built yet")
}
