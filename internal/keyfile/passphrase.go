package keyfile

import (
	"fmt"
	"os"

	"golang.org/x/term"

	"github.com/santong-cn/santong/internal/fault"
)

// EnvPassphrase is the environment variable that Passphrase reads before prompting.
const EnvPassphrase = "SANTONG_PASSPHRASE"

// Passphrase returns the passphrase from $SANTONG_PASSPHRASE when it is set and not empty;
// otherwise it prints prompt on standard error and reads a line from the terminal without echo.
// With no variable and no terminal it returns [ErrNoPass].
func Passphrase(prompt string) ([]byte, error) {
	if p := os.Getenv(EnvPassphrase); p != "" {
		return []byte(p), nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil, ErrNoPass
	}
	fmt.Fprint(os.Stderr, prompt)
	p, err := term.ReadPassword(fd)
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "read passphrase")
	}
	if len(p) == 0 {
		return nil, fault.New(fault.Invalid, "empty passphrase")
	}
	return p, nil
}
