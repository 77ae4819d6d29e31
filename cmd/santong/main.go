// Command santong runs and uses a Santong ledger.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "santong: error: not built yet")
	os.Exit(2)
}
