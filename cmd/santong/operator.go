package main

import (
	"strings"

	"github.com/santong-cn/santong/verify"
)

// operatorName reads serve's --operator, "Chinese|English" (either part may be left out; a
// name without "|" is the Chinese name): the service's pages name the operator with it.
func operatorName(s string) verify.Text {
	zh, en, _ := strings.Cut(s, "|")
	return verify.Text{ZH: strings.TrimSpace(zh), EN: strings.TrimSpace(en)}
}
