package main

import (
	"flag"
	"fmt"
	"strconv"

	"github.com/santong-cn/santong/internal/diskspace"
	"github.com/santong-cn/santong/ledger"
)

// ledgerMemory is how much memory the log's Badger database may use (docs/operations.md).
type ledgerMemory struct {
	memTable, blockCache, indexCache sizeFlag
	numMemtables                     int
}

func (m ledgerMemory) apply(o *ledger.Options) {
	o.MemTableSize = int64(m.memTable)
	o.NumMemtables = m.numMemtables
	o.BlockCacheSize = int64(m.blockCache)
	o.IndexCacheSize = int64(m.indexCache)
}

// addLedgerMemoryFlags registers the --ledger-* memory flags (defaults from the environment, then
// the ledger's service defaults) on fs; they fill c.ledgerMemory.
func (c *cli) addLedgerMemoryFlags(fs *flag.FlagSet) {
	m := &c.ledgerMemory
	env := func(name string, def int64) sizeFlag {
		if v, err := diskspace.Parse(c.getenv(name)); err == nil && v > 0 {
			return sizeFlag(v)
		}
		return sizeFlag(def)
	}
	m.memTable = env("SANTONG_LEDGER_MEMTABLE", ledger.DefaultMemTableSize)
	m.blockCache = env("SANTONG_LEDGER_BLOCK_CACHE", ledger.DefaultBlockCacheSize)
	m.indexCache = env("SANTONG_LEDGER_INDEX_CACHE", ledger.DefaultIndexCacheSize)
	fs.Var(&m.memTable, "ledger-memtable", "bytes of one memtable of the log's database, e.g. 32MiB, at least 32MiB ($SANTONG_LEDGER_MEMTABLE)")
	fs.IntVar(&m.numMemtables, "ledger-memtables", envInt(c, "SANTONG_LEDGER_MEMTABLES", ledger.DefaultNumMemtables), "memtables of the log's database kept in memory ($SANTONG_LEDGER_MEMTABLES)")
	fs.Var(&m.blockCache, "ledger-block-cache", "bytes of the log database's block cache ($SANTONG_LEDGER_BLOCK_CACHE)")
	fs.Var(&m.indexCache, "ledger-index-cache", "bytes of the log database's index and bloom-filter cache ($SANTONG_LEDGER_INDEX_CACHE)")
}

// sizeFlag is a byte size: 1048576, 64MiB, 512KiB, 1GiB.
type sizeFlag int64

func (s *sizeFlag) String() string { return strconv.FormatInt(int64(*s), 10) }

func (s *sizeFlag) Set(v string) error {
	n, err := diskspace.Parse(v)
	if err != nil {
		return err
	}
	if n <= 0 {
		return fmt.Errorf("%q: the size must be positive", v)
	}
	*s = sizeFlag(n)
	return nil
}
