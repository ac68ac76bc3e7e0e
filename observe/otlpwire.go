package observe

import (
	"math"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/encoding/protowire"
)

// This file writes an OTLP ExportTraceServiceRequest with protowire by
// hand, so that the binary does not link the generated OTLP messages (and
// the gRPC packages they bring), whose package-level data every garbage
// collection cycle marks. The field numbers are those of
// opentelemetry-proto's trace.proto, common.proto, resource.proto and
// trace_service.proto; otlp_test.go decodes what is written here with the
// generated messages.

// ExportTraceServiceRequest, ResourceSpans, ScopeSpans.
const (
	fieldRequestResourceSpans protowire.Number = 1

	fieldResourceSpansResource   protowire.Number = 1
	fieldResourceSpansScopeSpans protowire.Number = 2
	fieldResourceSpansSchemaURL  protowire.Number = 3

	fieldScopeSpansScope     protowire.Number = 1
	fieldScopeSpansSpans     protowire.Number = 2
	fieldScopeSpansSchemaURL protowire.Number = 3
)

// Resource, InstrumentationScope, KeyValue, AnyValue and its containers.
const (
	fieldResourceAttributes protowire.Number = 1

	fieldScopeName       protowire.Number = 1
	fieldScopeVersion    protowire.Number = 2
	fieldScopeAttributes protowire.Number = 3

	fieldKeyValueKey   protowire.Number = 1
	fieldKeyValueValue protowire.Number = 2

	fieldAnyString protowire.Number = 1
	fieldAnyBool   protowire.Number = 2
	fieldAnyInt    protowire.Number = 3
	fieldAnyDouble protowire.Number = 4
	fieldAnyArray  protowire.Number = 5
	fieldAnyKVList protowire.Number = 6
	fieldAnyBytes  protowire.Number = 7

	// ArrayValue.values and KeyValueList.values.
	fieldListValues protowire.Number = 1
)

// Span, Span.Event, Span.Link, Status.
const (
	fieldSpanTraceID                protowire.Number = 1
	fieldSpanSpanID                 protowire.Number = 2
	fieldSpanTraceState             protowire.Number = 3
	fieldSpanParentSpanID           protowire.Number = 4
	fieldSpanName                   protowire.Number = 5
	fieldSpanKind                   protowire.Number = 6
	fieldSpanStartTime              protowire.Number = 7
	fieldSpanEndTime                protowire.Number = 8
	fieldSpanAttributes             protowire.Number = 9
	fieldSpanDroppedAttributesCount protowire.Number = 10
	fieldSpanEvents                 protowire.Number = 11
	fieldSpanDroppedEventsCount     protowire.Number = 12
	fieldSpanLinks                  protowire.Number = 13
	fieldSpanDroppedLinksCount      protowire.Number = 14
	fieldSpanStatus                 protowire.Number = 15
	fieldSpanFlags                  protowire.Number = 16

	fieldEventTime                   protowire.Number = 1
	fieldEventName                   protowire.Number = 2
	fieldEventAttributes             protowire.Number = 3
	fieldEventDroppedAttributesCount protowire.Number = 4

	fieldLinkTraceID                protowire.Number = 1
	fieldLinkSpanID                 protowire.Number = 2
	fieldLinkTraceState             protowire.Number = 3
	fieldLinkAttributes             protowire.Number = 4
	fieldLinkDroppedAttributesCount protowire.Number = 5
	fieldLinkFlags                  protowire.Number = 6

	fieldStatusMessage protowire.Number = 2
	fieldStatusCode    protowire.Number = 3
)

// ExportTraceServiceResponse and ExportTracePartialSuccess.
const (
	fieldResponsePartialSuccess protowire.Number = 1

	fieldPartialRejectedSpans protowire.Number = 1
	fieldPartialErrorMessage  protowire.Number = 2
)

// SpanFlags bits above the W3C trace flags: whether the parent (or a
// link's context) is known to be remote, and whether it is.
const (
	spanFlagsHasIsRemote = 0x100
	spanFlagsIsRemote    = 0x200
)

// OTLP's Status.StatusCode (codes.Code numbers Error and Ok the other way
// round).
const (
	otlpStatusUnset = 0
	otlpStatusOk    = 1
	otlpStatusError = 2
)

// scopeGroup and resourceGroup keep the spans of one instrumentation
// scope of one resource together, in the order they were first seen.
type scopeGroup struct {
	scope instrumentation.Scope
	spans []sdktrace.ReadOnlySpan
}

type resourceGroup struct {
	res    *resource.Resource
	scopes []*scopeGroup
}

// groupSpans sorts spans by resource, then by scope, as OTLP nests them.
func groupSpans(spans []sdktrace.ReadOnlySpan) []*resourceGroup {
	type scopeKey struct {
		res   attribute.Distinct
		scope instrumentation.Scope
	}
	var groups []*resourceGroup
	byRes := map[attribute.Distinct]*resourceGroup{}
	byScope := map[scopeKey]*scopeGroup{}
	for _, s := range spans {
		if s == nil {
			continue
		}
		res := s.Resource()
		rk := res.Equivalent()
		rg := byRes[rk]
		if rg == nil {
			rg = &resourceGroup{res: res}
			byRes[rk] = rg
			groups = append(groups, rg)
		}
		sk := scopeKey{res: rk, scope: s.InstrumentationScope()}
		sg := byScope[sk]
		if sg == nil {
			sg = &scopeGroup{scope: sk.scope}
			byScope[sk] = sg
			rg.scopes = append(rg.scopes, sg)
		}
		sg.spans = append(sg.spans, s)
	}
	return groups
}

// appendExportRequest appends spans as an ExportTraceServiceRequest.
func appendExportRequest(b []byte, spans []sdktrace.ReadOnlySpan) []byte {
	for _, rg := range groupSpans(spans) {
		rs := len(b)
		b = beginMessage(b, fieldRequestResourceSpans)
		r := len(b)
		b = beginMessage(b, fieldResourceSpansResource)
		for iter := rg.res.Iter(); iter.Next(); {
			b = appendKeyValue(b, fieldResourceAttributes, iter.Attribute())
		}
		b = endMessage(b, r)
		for _, sg := range rg.scopes {
			ss := len(b)
			b = beginMessage(b, fieldResourceSpansScopeSpans)
			if sg.scope != (instrumentation.Scope{}) {
				sc := len(b)
				b = beginMessage(b, fieldScopeSpansScope)
				b = appendString(b, fieldScopeName, sg.scope.Name)
				b = appendString(b, fieldScopeVersion, sg.scope.Version)
				for iter := sg.scope.Attributes.Iter(); iter.Next(); {
					b = appendKeyValue(b, fieldScopeAttributes, iter.Attribute())
				}
				b = endMessage(b, sc)
			}
			for _, s := range sg.spans {
				b = appendSpan(b, s)
			}
			b = appendString(b, fieldScopeSpansSchemaURL, sg.scope.SchemaURL)
			b = endMessage(b, ss)
		}
		b = appendString(b, fieldResourceSpansSchemaURL, rg.res.SchemaURL())
		b = endMessage(b, rs)
	}
	return b
}

// appendSpan appends s as a ScopeSpans.spans entry.
func appendSpan(b []byte, s sdktrace.ReadOnlySpan) []byte {
	start := len(b)
	b = beginMessage(b, fieldScopeSpansSpans)
	sc := s.SpanContext()
	tid, sid := sc.TraceID(), sc.SpanID()
	b = appendBytes(b, fieldSpanTraceID, tid[:])
	b = appendBytes(b, fieldSpanSpanID, sid[:])
	b = appendString(b, fieldSpanTraceState, sc.TraceState().String())
	parent := s.Parent()
	if psid := parent.SpanID(); psid.IsValid() {
		b = appendBytes(b, fieldSpanParentSpanID, psid[:])
	}
	b = protowire.AppendTag(b, fieldSpanFlags, protowire.Fixed32Type)
	b = protowire.AppendFixed32(b, spanFlags(sc.TraceFlags(), parent))
	b = appendString(b, fieldSpanName, s.Name())
	b = appendUint(b, fieldSpanKind, otlpSpanKind(s.SpanKind()))
	b = appendTime(b, fieldSpanStartTime, s.StartTime())
	b = appendTime(b, fieldSpanEndTime, s.EndTime())
	for _, kv := range s.Attributes() {
		b = appendKeyValue(b, fieldSpanAttributes, kv)
	}
	b = appendUint(b, fieldSpanDroppedAttributesCount, clampCount(s.DroppedAttributes()))
	for _, ev := range s.Events() {
		e := len(b)
		b = beginMessage(b, fieldSpanEvents)
		b = appendTime(b, fieldEventTime, ev.Time)
		b = appendString(b, fieldEventName, ev.Name)
		for _, kv := range ev.Attributes {
			b = appendKeyValue(b, fieldEventAttributes, kv)
		}
		b = appendUint(b, fieldEventDroppedAttributesCount, clampCount(ev.DroppedAttributeCount))
		b = endMessage(b, e)
	}
	b = appendUint(b, fieldSpanDroppedEventsCount, clampCount(s.DroppedEvents()))
	for _, l := range s.Links() {
		ls := len(b)
		b = beginMessage(b, fieldSpanLinks)
		ltid, lsid := l.SpanContext.TraceID(), l.SpanContext.SpanID()
		b = appendBytes(b, fieldLinkTraceID, ltid[:])
		b = appendBytes(b, fieldLinkSpanID, lsid[:])
		b = appendString(b, fieldLinkTraceState, l.SpanContext.TraceState().String())
		for _, kv := range l.Attributes {
			b = appendKeyValue(b, fieldLinkAttributes, kv)
		}
		b = appendUint(b, fieldLinkDroppedAttributesCount, clampCount(l.DroppedAttributeCount))
		b = protowire.AppendTag(b, fieldLinkFlags, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, spanFlags(l.SpanContext.TraceFlags(), l.SpanContext))
		b = endMessage(b, ls)
	}
	b = appendUint(b, fieldSpanDroppedLinksCount, clampCount(s.DroppedLinks()))
	st := len(b)
	b = beginMessage(b, fieldSpanStatus)
	status := s.Status()
	b = appendString(b, fieldStatusMessage, status.Description)
	b = appendUint(b, fieldStatusCode, otlpStatusCode(status.Code))
	b = endMessage(b, st)
	return endMessage(b, start)
}

// spanFlags are the W3C trace flags, and whether ctx (the parent, or the
// link's context) is remote.
func spanFlags(tf trace.TraceFlags, ctx trace.SpanContext) uint32 {
	flags := uint32(tf) | spanFlagsHasIsRemote
	if ctx.IsRemote() {
		flags |= spanFlagsIsRemote
	}
	return flags
}

// otlpSpanKind maps the API's span kind to OTLP's Span.SpanKind.
func otlpSpanKind(k trace.SpanKind) uint64 {
	switch k {
	case trace.SpanKindUnspecified:
		return 0
	case trace.SpanKindInternal:
		return 1
	case trace.SpanKindServer:
		return 2
	case trace.SpanKindClient:
		return 3
	case trace.SpanKindProducer:
		return 4
	case trace.SpanKindConsumer:
		return 5
	default:
		return 0
	}
}

func otlpStatusCode(c codes.Code) uint64 {
	switch c {
	case codes.Ok:
		return otlpStatusOk
	case codes.Error:
		return otlpStatusError
	case codes.Unset:
		return otlpStatusUnset
	default:
		return otlpStatusUnset
	}
}

// appendKeyValue appends kv as a KeyValue field num.
func appendKeyValue(b []byte, num protowire.Number, kv attribute.KeyValue) []byte {
	start := len(b)
	b = beginMessage(b, num)
	b = appendString(b, fieldKeyValueKey, string(kv.Key))
	b = appendAnyValue(b, fieldKeyValueValue, kv.Value)
	return endMessage(b, start)
}

// appendAnyValue appends v as an AnyValue field num. Its oneof is written
// even when zero (false, 0, ""): that is the value, not its absence.
func appendAnyValue(b []byte, num protowire.Number, v attribute.Value) []byte {
	start := len(b)
	b = beginMessage(b, num)
	switch v.Type() {
	case attribute.EMPTY:
		// An AnyValue with no value set.
	case attribute.BOOL:
		b = appendBool(b, v.AsBool())
	case attribute.INT64:
		b = appendInt(b, v.AsInt64())
	case attribute.FLOAT64:
		b = appendDouble(b, v.AsFloat64())
	case attribute.STRING:
		b = appendStringValue(b, v.AsString())
	case attribute.BYTESLICE:
		b = protowire.AppendTag(b, fieldAnyBytes, protowire.BytesType)
		b = protowire.AppendBytes(b, v.AsByteSlice())
	case attribute.BOOLSLICE:
		b = appendArray(b, v.AsBoolSlice(), appendBool)
	case attribute.INT64SLICE:
		b = appendArray(b, v.AsInt64Slice(), appendInt)
	case attribute.FLOAT64SLICE:
		b = appendArray(b, v.AsFloat64Slice(), appendDouble)
	case attribute.STRINGSLICE:
		b = appendArray(b, v.AsStringSlice(), appendStringValue)
	case attribute.SLICE:
		a := beginArray(b)
		for _, x := range v.AsSlice() {
			a = appendAnyValue(a, fieldListValues, x)
		}
		b = endMessage(a, len(b))
	case attribute.MAP:
		a := beginMessage(b, fieldAnyKVList)
		for _, kv := range v.AsMap() {
			a = appendKeyValue(a, fieldListValues, kv)
		}
		b = endMessage(a, len(b))
	}
	return endMessage(b, start)
}

// beginArray opens AnyValue.array_value at the end of b; close it with
// endMessage(a, len(b)).
func beginArray(b []byte) []byte { return beginMessage(b, fieldAnyArray) }

// appendArray writes AnyValue.array_value at the end of b: one AnyValue
// per element, each written by appendOne.
func appendArray[T any](b []byte, xs []T, appendOne func([]byte, T) []byte) []byte {
	a := beginArray(b)
	for _, x := range xs {
		e := len(a)
		a = endMessage(appendOne(beginMessage(a, fieldListValues), x), e)
	}
	return endMessage(a, len(b))
}

// appendStringValue writes AnyValue.string_value, even when empty (a
// oneof: an empty string is still a string).
func appendStringValue(b []byte, v string) []byte {
	b = protowire.AppendTag(b, fieldAnyString, protowire.BytesType)
	return protowire.AppendString(b, v)
}

func appendBool(b []byte, v bool) []byte {
	b = protowire.AppendTag(b, fieldAnyBool, protowire.VarintType)
	return protowire.AppendVarint(b, protowire.EncodeBool(v))
}

func appendInt(b []byte, v int64) []byte {
	b = protowire.AppendTag(b, fieldAnyInt, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v)) //nolint:gosec // an int64 field is its two's complement on the wire
}

func appendDouble(b []byte, v float64) []byte {
	b = protowire.AppendTag(b, fieldAnyDouble, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, math.Float64bits(v))
}

// beginMessage starts a length-delimited field num whose content follows;
// endMessage(b, start), with start the length of b before beginMessage,
// writes its length. Writing in place and moving the content by the few
// bytes of its length once is cheaper than sizing every message first.
func beginMessage(b []byte, num protowire.Number) []byte {
	return protowire.AppendTag(b, num, protowire.BytesType)
}

func endMessage(b []byte, start int) []byte {
	_, _, tagLen := protowire.ConsumeTag(b[start:])
	content := start + tagLen
	n := uint64(len(b) - content) //nolint:gosec // a length, not negative
	size := protowire.SizeVarint(n)
	b = append(b, make([]byte, size)...)
	copy(b[content+size:], b[content:len(b)-size])
	protowire.AppendVarint(b[content:content], n)
	return b
}

// Scalars at their zero value are left out, as proto3 writes them.

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendUint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// appendTime appends t as unix nanoseconds in a fixed64; the zero
// time.Time, or one before 1970, is 0: unset.
func appendTime(b []byte, num protowire.Number, t time.Time) []byte {
	if t.IsZero() || t.Before(time.Unix(0, 0)) {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, uint64(t.UnixNano()))
}

func clampCount(n int) uint64 {
	return uint64(min(max(n, 0), math.MaxUint32))
}
