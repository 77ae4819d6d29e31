// Package ledger is Santong's append-only, hash-chained log on Badger.
package ledger
