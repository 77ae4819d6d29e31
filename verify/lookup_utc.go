package verify

import (
	"io"
	"reflect"
	"sync"
	"time"

	ginjson "github.com/gin-gonic/gin/codec/json"
)

// # Times in UTC
//
// docs/api.md promises every JSON time in UTC ("Z"). The projection keeps times as they were
// read: validity dates and production days start at midnight China Standard Time (+08:00), and
// an event's time keeps the offset its signer wrote. The answers are made UTC where they are
// encoded: inUTC returns a copy of the value with every time.Time in it (through pointers,
// structs, slices, arrays, maps and interfaces) in UTC. It copies only what holds a time, and
// never writes to the value it is given (views are shared with the registry cache). It is
// installed as Gin's JSON codec (gin/codec/json.API), so that every JSON answer of the
// service, c.JSON's and cacheJSON's, goes through it.

func init() { ginjson.API = utcCodec{ginjson.API} }

// utcCodec is a Gin JSON codec that marshals with every time in UTC.
type utcCodec struct{ ginjson.Core }

func (c utcCodec) Marshal(v any) ([]byte, error) { return c.Core.Marshal(inUTC(v)) }

func (c utcCodec) MarshalIndent(v any, prefix, indent string) ([]byte, error) {
	return c.Core.MarshalIndent(inUTC(v), prefix, indent)
}

func (c utcCodec) NewEncoder(w io.Writer) ginjson.Encoder { return utcEncoder{c.Core.NewEncoder(w)} }

type utcEncoder struct{ ginjson.Encoder }

func (e utcEncoder) Encode(v any) error { return e.Encoder.Encode(inUTC(v)) }

// inUTC returns v with every time in UTC.
func inUTC(v any) any {
	if v == nil {
		return nil
	}
	rv := reflect.ValueOf(v)
	if !hasTime(rv.Type()) {
		return v
	}
	return utcValue(rv).Interface()
}

var timeType = reflect.TypeFor[time.Time]()

// hasTimeCache remembers, per type, whether a value of it can hold a time.
var hasTimeCache sync.Map // reflect.Type -> bool

func hasTime(t reflect.Type) bool {
	if v, ok := hasTimeCache.Load(t); ok {
		return v.(bool)
	}
	hasTimeCache.Store(t, true) // a recursive type: assume so while it is examined
	r := false
	switch t.Kind() {
	case reflect.Struct:
		if t == timeType {
			r = true
			break
		}
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() && hasTime(f.Type) {
				r = true
				break
			}
		}
	case reflect.Pointer, reflect.Slice, reflect.Array:
		r = hasTime(t.Elem())
	case reflect.Map:
		r = hasTime(t.Elem())
	case reflect.Interface:
		r = true // known only from the value
	}
	hasTimeCache.Store(t, r)
	return r
}

// timeFieldsCache remembers, per struct type, its exported fields that can hold a time.
var timeFieldsCache sync.Map // reflect.Type -> []int

func timeFields(t reflect.Type) []int {
	if v, ok := timeFieldsCache.Load(t); ok {
		return v.([]int)
	}
	var fs []int
	for i := range t.NumField() {
		if f := t.Field(i); f.IsExported() && hasTime(f.Type) {
			fs = append(fs, i)
		}
	}
	timeFieldsCache.Store(t, fs)
	return fs
}

// utcValue returns a copy of v with its times in UTC; v's type can hold a time.
func utcValue(v reflect.Value) reflect.Value {
	t := v.Type()
	switch t.Kind() {
	case reflect.Struct:
		if t == timeType {
			u := v.Interface().(time.Time).UTC()
			return reflect.ValueOf(u)
		}
		out := reflect.New(t).Elem()
		out.Set(v) // unexported fields as they are
		for _, i := range timeFields(t) {
			out.Field(i).Set(utcValue(v.Field(i)))
		}
		return out
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		p := reflect.New(t.Elem())
		p.Elem().Set(utcValue(v.Elem()))
		return p
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeSlice(t, v.Len(), v.Len())
		for i := range v.Len() {
			out.Index(i).Set(utcValue(v.Index(i)))
		}
		return out
	case reflect.Array:
		out := reflect.New(t).Elem()
		for i := range v.Len() {
			out.Index(i).Set(utcValue(v.Index(i)))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeMapWithSize(t, v.Len())
		for it := v.MapRange(); it.Next(); {
			out.SetMapIndex(it.Key(), utcValue(it.Value()))
		}
		return out
	case reflect.Interface:
		if v.IsNil() || !hasTime(v.Elem().Type()) {
			return v
		}
		out := reflect.New(t).Elem()
		out.Set(utcValue(v.Elem()))
		return out
	}
	return v
}
