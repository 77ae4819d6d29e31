package main

import (
	"context"
	"errors"
)

var errNotYet = errors.New("not built yet")

func cmdKeyNew(ctx context.Context, c *cli, args []string) error             { return errNotYet }
func cmdKeyShow(ctx context.Context, c *cli, args []string) error            { return errNotYet }
func cmdKeyEnrol(ctx context.Context, c *cli, args []string) error           { return errNotYet }
func cmdKeyRevoke(ctx context.Context, c *cli, args []string) error          { return errNotYet }
func cmdCertifierRegister(ctx context.Context, c *cli, args []string) error  { return errNotYet }
func cmdEnterpriseRegister(ctx context.Context, c *cli, args []string) error { return errNotYet }
func cmdEnterpriseDeclare(ctx context.Context, c *cli, args []string) error  { return errNotYet }
func cmdProductRegister(ctx context.Context, c *cli, args []string) error    { return errNotYet }
func cmdAuditRecord(ctx context.Context, c *cli, args []string) error        { return errNotYet }
func cmdCertGrant(ctx context.Context, c *cli, args []string) error          { return errNotYet }
func cmdCertSuspend(ctx context.Context, c *cli, args []string) error        { return errNotYet }
func cmdCertReinstate(ctx context.Context, c *cli, args []string) error      { return errNotYet }
func cmdCertRevoke(ctx context.Context, c *cli, args []string) error         { return errNotYet }
func cmdInspect(ctx context.Context, c *cli, args []string) error            { return errNotYet }
func cmdComplaintReceive(ctx context.Context, c *cli, args []string) error   { return errNotYet }
func cmdComplaintClose(ctx context.Context, c *cli, args []string) error     { return errNotYet }
func cmdDraw(ctx context.Context, c *cli, args []string) error               { return errNotYet }
func cmdBatchRecall(ctx context.Context, c *cli, args []string) error        { return errNotYet }
