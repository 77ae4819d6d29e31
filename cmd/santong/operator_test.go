package main

import (
	"testing"

	"github.com/santong-cn/santong/verify"
)

func TestOperatorName(t *testing.T) {
	for in, want := range map[string]verify.Text{
		"":                         {},
		"示范认证联盟":                   {ZH: "示范认证联盟"},
		"示范认证联盟|Demo Alliance":     {ZH: "示范认证联盟", EN: "Demo Alliance"},
		" 示范认证联盟 | Demo Alliance ": {ZH: "示范认证联盟", EN: "Demo Alliance"},
		"|Demo Alliance":           {EN: "Demo Alliance"},
	} {
		if got := operatorName(in); got != want {
			t.Errorf("operatorName(%q) = %+v, want %+v", in, got, want)
		}
	}
}
