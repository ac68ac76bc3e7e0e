package handlers

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// This file reads Envoy's CheckRequest and writes its CheckResponse with
// protowire, instead of go-control-plane's generated types. Linking those
// builds the descriptors of the whole Envoy API (and of cncf/xds and
// protoc-gen-validate) at process start, about 30% of what every garbage
// collection cycle marks; without them cycles are shorter and so is the
// p99 (bench/README.md, "The p99 line, third pass"). The tests keep
// go-control-plane as the reference client and decoder.
//
// Decoding gives what proto.Unmarshal into the generated CheckRequest
// gives for the fields the service reads, and refuses what it refuses:
// malformed wire data, a proto3 string anywhere in the message that is not
// valid UTF-8, nesting deeper than protobuf-go's recursion limit. Hence the
// schema below: every string, message and map field of the CheckRequest
// tree, known or not to the service (TestCheckRequestSchemaMatchesEnvoy
// holds it to the generated descriptors).

// checkRequest is what the service reads of a CheckRequest.
type checkRequest struct {
	hasHTTP                    bool // attributes.request.http is set
	method, scheme, host, path string
	headers                    map[string]string
	headerMap                  []checkHeaderValue // header_map.headers (encode_raw_headers)
	hasHeaderMap               bool
	sourceAddress              string // attributes.source.address.socket_address.address
	sourceCase                 protowire.Number
	extensions                 map[string]string // attributes.context_extensions
}

// checkHeaderValue is one envoy.config.core.v3.HeaderValue.
type checkHeaderValue struct {
	key, value, raw string
}

// wireKind is how the decoder checks a field; fields of any other kind
// (numbers, enums, bools, bytes) are skipped as protobuf-go reads them:
// the wire format alone can make them invalid.
type wireKind uint8

const (
	wireString     wireKind = iota + 1 // proto3 string: UTF-8
	wireBytes                          // bytes the service reads
	wireMessage                        // a message, checked in turn
	wireStringMap                      // map<string, string>
	wireMessageMap                     // map<string, message>
)

type wireField struct {
	kind wireKind
	msg  *wireSchema
}

// wireSchema is a message's fields by number.
type wireSchema []wireField

// The CheckRequest tree, envoy.service.auth.v3 and what it uses.
var (
	checkRequestSchema, attributeContextSchema, peerSchema, addressSchema,
	socketAddressSchema, pipeSchema, internalAddressSchema, requestSchema,
	httpRequestSchema, headerMapSchema, headerValueSchema, metadataSchema,
	tlsSessionSchema, structSchema, valueSchema, listValueSchema,
	anySchema, timestampSchema wireSchema
)

func init() {
	str := wireField{kind: wireString}
	msg := func(s *wireSchema) wireField { return wireField{kind: wireMessage, msg: s} }
	strMap := wireField{kind: wireStringMap}
	msgMap := func(s *wireSchema) wireField { return wireField{kind: wireMessageMap, msg: s} }
	checkRequestSchema = wireSchema{1: msg(&attributeContextSchema)}
	attributeContextSchema = wireSchema{1: msg(&peerSchema), 2: msg(&peerSchema), 4: msg(&requestSchema),
		10: strMap, 11: msg(&metadataSchema), 12: msg(&tlsSessionSchema), 13: msg(&metadataSchema)}
	peerSchema = wireSchema{1: msg(&addressSchema), 2: str, 3: strMap, 4: str, 5: str}
	addressSchema = wireSchema{1: msg(&socketAddressSchema), 2: msg(&pipeSchema), 3: msg(&internalAddressSchema)}
	socketAddressSchema = wireSchema{2: str, 4: str, 5: str, 7: str}
	pipeSchema = wireSchema{1: str}
	internalAddressSchema = wireSchema{1: str, 2: str}
	// A Timestamp holds no field to check, but is a message all the same:
	// it counts towards the recursion limit.
	requestSchema = wireSchema{1: msg(&timestampSchema), 2: msg(&httpRequestSchema)}
	httpRequestSchema = wireSchema{1: str, 2: str, 3: strMap, 4: str, 5: str, 6: str, 7: str, 8: str,
		10: str, 11: str, 13: msg(&headerMapSchema)}
	headerMapSchema = wireSchema{1: msg(&headerValueSchema)}
	headerValueSchema = wireSchema{1: str, 2: str, 3: {kind: wireBytes}}
	metadataSchema = wireSchema{1: msgMap(&structSchema), 2: msgMap(&anySchema)}
	tlsSessionSchema = wireSchema{1: str}
	structSchema = wireSchema{1: msgMap(&valueSchema)}
	valueSchema = wireSchema{3: str, 5: msg(&structSchema), 6: msg(&listValueSchema)}
	listValueSchema = wireSchema{1: msg(&valueSchema)}
	anySchema = wireSchema{1: str}
}

var (
	errWireUTF8  = errors.New("string field contains invalid UTF-8")
	errWireDepth = errors.New("exceeded maximum recursion depth")
)

// wireReader reads the fields of one message the service uses; it returns
// false for the others, which wireWalk checks.
type wireReader func(r *checkRequest, num protowire.Number, v []byte, depth int) (bool, error)

// unmarshal decodes b, a CheckRequest, into r.
func (r *checkRequest) unmarshal(b []byte) error {
	if err := wireWalk(b, checkRequestSchema, protowire.DefaultRecursionLimit, r, readCheckFields); err != nil {
		return fmt.Errorf("envoy.service.auth.v3.CheckRequest: %w", err)
	}
	return nil
}

// wireWalk goes through the message b of schema s as proto.Unmarshal
// does: a field of a known number and kind arriving with another wire type
// is an unknown field, unknown fields are skipped, strings must be UTF-8
// and messages are checked in turn, depth levels deep at most. Each known
// field is offered to read first.
func wireWalk(b []byte, s wireSchema, depth int, r *checkRequest, read wireReader) error {
	depth--
	if depth < 0 {
		return errWireDepth
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		if num > protowire.MaxValidNumber {
			return fmt.Errorf("invalid field number %d", num)
		}
		b = b[n:]
		var f wireField
		if int(num) < len(s) {
			f = s[num]
		}
		if (f.kind == wireStringMap || f.kind == wireMessageMap) && depth < 1 {
			return errWireDepth // a map entry is a level, whatever its wire type
		}
		if f.kind == 0 || typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
		if read != nil {
			done, err := read(r, num, v, depth)
			if err != nil {
				return fmt.Errorf("field %d: %w", num, err)
			}
			if done {
				continue
			}
		}
		if err := wireCheck(v, f, depth); err != nil {
			return fmt.Errorf("field %d: %w", num, err)
		}
	}
	return nil
}

// wireCheck checks a field the service does not read.
func wireCheck(v []byte, f wireField, depth int) error {
	switch f.kind {
	case wireString:
		if !utf8.Valid(v) {
			return errWireUTF8
		}
	case wireMessage:
		return wireWalk(v, *f.msg, depth, nil, nil)
	case wireStringMap:
		_, _, err := wireMapEntry(v, nil, depth)
		return err
	case wireMessageMap:
		_, _, err := wireMapEntry(v, f.msg, depth)
		return err
	case wireBytes:
	}
	return nil
}

// wireMapEntry reads a map entry: key 1 (a string), value 2, a string or,
// with val, a message it checks. A missing key or value is empty, a
// repeated one the last; a value message repeated is merged, so it is
// checked occurrence by occurrence. The entry is a level to the recursion
// limit, as its value message is.
func wireMapEntry(b []byte, val *wireSchema, depth int) (key, value []byte, err error) {
	depth--
	if depth < 0 {
		return nil, nil, errWireDepth
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, nil, protowire.ParseError(n)
		}
		if num > protowire.MaxValidNumber {
			return nil, nil, fmt.Errorf("invalid field number %d", num)
		}
		b = b[n:]
		if (num != 1 && num != 2) || typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, nil, protowire.ParseError(n)
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return nil, nil, protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case num == 2 && val != nil:
			if err := wireWalk(v, *val, depth, nil, nil); err != nil {
				return nil, nil, err
			}
		case !utf8.Valid(v):
			return nil, nil, errWireUTF8
		case num == 1:
			key = v
		default:
			value = v
		}
	}
	return key, value, nil
}

// readStringMapEntry adds one map<string, string> entry to *m, made on
// the first one; a later entry of the same key wins, as in protobuf.
func readStringMapEntry(m *map[string]string, v []byte, depth int) error {
	k, val, err := wireMapEntry(v, nil, depth)
	if err != nil {
		return err
	}
	if *m == nil {
		*m = map[string]string{}
	}
	(*m)[string(k)] = string(val)
	return nil
}

func wireUTF8String(v []byte) (string, error) {
	if !utf8.Valid(v) {
		return "", errWireUTF8
	}
	return string(v), nil
}

// The readers, one per message on the way to a field the service reads.

func readCheckFields(r *checkRequest, num protowire.Number, v []byte, depth int) (bool, error) {
	if num != 1 { // attributes
		return false, nil
	}
	return true, wireWalk(v, attributeContextSchema, depth, r, readAttributeContext)
}

func readAttributeContext(r *checkRequest, num protowire.Number, v []byte, depth int) (bool, error) {
	switch num {
	case 1: // source
		return true, wireWalk(v, peerSchema, depth, r, readSource)
	case 4: // request
		return true, wireWalk(v, requestSchema, depth, r, readRequest)
	case 10: // context_extensions
		return true, readStringMapEntry(&r.extensions, v, depth)
	}
	return false, nil
}

func readSource(r *checkRequest, num protowire.Number, v []byte, depth int) (bool, error) {
	if num != 1 { // address
		return false, nil
	}
	return true, wireWalk(v, addressSchema, depth, r, readSourceAddress)
}

// readSourceAddress follows the Address oneof: a socket_address after
// another member starts afresh, one after a socket_address merges into it.
func readSourceAddress(r *checkRequest, num protowire.Number, v []byte, depth int) (bool, error) {
	if num != 1 { // socket_address
		if err := wireCheck(v, addressSchema[num], depth); err != nil {
			return true, err
		}
		r.sourceCase, r.sourceAddress = num, ""
		return true, nil
	}
	if r.sourceCase != num {
		r.sourceAddress = ""
	}
	r.sourceCase = num
	return true, wireWalk(v, socketAddressSchema, depth, r, readSocketAddress)
}

func readSocketAddress(r *checkRequest, num protowire.Number, v []byte, _ int) (bool, error) {
	if num != 2 { // address
		return false, nil
	}
	var err error
	r.sourceAddress, err = wireUTF8String(v)
	return true, err
}

func readRequest(r *checkRequest, num protowire.Number, v []byte, depth int) (bool, error) {
	if num != 2 { // http
		return false, nil
	}
	r.hasHTTP = true
	return true, wireWalk(v, httpRequestSchema, depth, r, readHTTPRequest)
}

func readHTTPRequest(r *checkRequest, num protowire.Number, v []byte, depth int) (bool, error) {
	var err error
	switch num {
	case 2:
		r.method, err = wireUTF8String(v)
	case 4:
		r.path, err = wireUTF8String(v)
	case 5:
		r.host, err = wireUTF8String(v)
	case 6:
		r.scheme, err = wireUTF8String(v)
	case 3: // headers
		err = readStringMapEntry(&r.headers, v, depth)
	case 13: // header_map
		r.hasHeaderMap = true
		err = wireWalk(v, headerMapSchema, depth, r, readHeaderMap)
	default:
		return false, nil
	}
	return true, err
}

func readHeaderMap(r *checkRequest, num protowire.Number, v []byte, depth int) (bool, error) {
	if num != 1 { // headers
		return false, nil
	}
	r.headerMap = append(r.headerMap, checkHeaderValue{})
	return true, wireWalk(v, headerValueSchema, depth, r, readHeaderValue)
}

func readHeaderValue(r *checkRequest, num protowire.Number, v []byte, _ int) (bool, error) {
	hv := &r.headerMap[len(r.headerMap)-1]
	var err error
	switch num {
	case 1:
		hv.key, err = wireUTF8String(v)
	case 2:
		hv.value, err = wireUTF8String(v)
	case 3: // raw_value: bytes, anything goes
		hv.raw = string(v)
	default:
		return false, nil
	}
	return true, err
}

// checkReply is the CheckResponse the service sends: an ok_response or a
// denied_response, and the status that says which.
type checkReply struct {
	code    codes.Code
	message string
	ok      bool

	// ok_response
	headers         []headerOption // also denied_response.headers
	headersToRemove []string
	responseHeaders []headerOption // response_headers_to_add

	// denied_response
	httpStatus int
	body       string
}

// headerOption is an envoy.config.core.v3.HeaderValueOption.
type headerOption struct {
	key, value string
	action     appendAction
}

// appendAction is HeaderValueOption.HeaderAppendAction.
type appendAction uint8

const (
	appendIfExistsOrAdd    appendAction = 0
	overwriteIfExistsOrAdd appendAction = 2
)

// CheckResponse and the messages it holds, by field number.
const (
	responseStatus         protowire.Number = 1
	responseDenied         protowire.Number = 2
	responseOK             protowire.Number = 3
	statusCode             protowire.Number = 1
	statusMessage          protowire.Number = 2
	deniedStatus           protowire.Number = 1
	deniedHeaders          protowire.Number = 2
	deniedBody             protowire.Number = 3
	httpStatusCode         protowire.Number = 1
	okHeaders              protowire.Number = 2
	okHeadersToRemove      protowire.Number = 5
	okResponseHeadersToAdd protowire.Number = 6
	optionHeader           protowire.Number = 1
	optionAppendAction     protowire.Number = 3
	headerKey              protowire.Number = 1
	headerValue            protowire.Number = 2
)

// marshal encodes the reply as proto.Marshal encodes the same
// CheckResponse: fields in number order, proto3 defaults left out, and an
// error for a string that is not UTF-8, which Envoy would refuse.
func (c *checkReply) marshal() ([]byte, error) {
	if err := c.checkUTF8(); err != nil {
		return nil, err
	}
	status := c.statusSize()
	size := sizeField(responseStatus, status)
	var body int
	if c.ok {
		body = c.okSize()
		size += sizeField(responseOK, body)
	} else {
		body = c.deniedSize()
		size += sizeField(responseDenied, body)
	}
	b := make([]byte, 0, size)
	b = appendField(b, responseStatus, status)
	if c.code != codes.OK {
		b = protowire.AppendTag(b, statusCode, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(c.code))
	}
	b = appendString(b, statusMessage, c.message)
	if c.ok {
		b = appendField(b, responseOK, body)
		b = appendOptions(b, okHeaders, c.headers)
		for _, name := range c.headersToRemove {
			b = protowire.AppendTag(b, okHeadersToRemove, protowire.BytesType)
			b = protowire.AppendString(b, name)
		}
		b = appendOptions(b, okResponseHeadersToAdd, c.responseHeaders)
		return b, nil
	}
	b = appendField(b, responseDenied, body)
	b = appendField(b, deniedStatus, c.httpStatusSize())
	if c.httpStatus != 0 {
		b = protowire.AppendTag(b, httpStatusCode, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(c.httpStatus)) //nolint:gosec // an HTTP status: 3 digits
	}
	b = appendOptions(b, deniedHeaders, c.headers)
	b = appendString(b, deniedBody, c.body)
	return b, nil
}

func (c *checkReply) checkUTF8() error {
	ok := utf8.ValidString(c.message) && utf8.ValidString(c.body)
	for _, s := range c.headersToRemove {
		ok = ok && utf8.ValidString(s)
	}
	for _, o := range c.headers {
		ok = ok && utf8.ValidString(o.key) && utf8.ValidString(o.value)
	}
	for _, o := range c.responseHeaders {
		ok = ok && utf8.ValidString(o.key) && utf8.ValidString(o.value)
	}
	if !ok {
		return fmt.Errorf("envoy.service.auth.v3.CheckResponse: %w", errWireUTF8)
	}
	return nil
}

func (c *checkReply) statusSize() int {
	n := sizeString(statusMessage, c.message)
	if c.code != codes.OK {
		n += protowire.SizeTag(statusCode) + protowire.SizeVarint(uint64(c.code))
	}
	return n
}

func (c *checkReply) okSize() int {
	n := sizeOptions(okHeaders, c.headers) + sizeOptions(okResponseHeadersToAdd, c.responseHeaders)
	for _, name := range c.headersToRemove {
		n += protowire.SizeTag(okHeadersToRemove) + protowire.SizeBytes(len(name))
	}
	return n
}

func (c *checkReply) httpStatusSize() int {
	if c.httpStatus == 0 {
		return 0
	}
	return protowire.SizeTag(httpStatusCode) + protowire.SizeVarint(uint64(c.httpStatus)) //nolint:gosec // an HTTP status: 3 digits
}

func (c *checkReply) deniedSize() int {
	return sizeField(deniedStatus, c.httpStatusSize()) + sizeOptions(deniedHeaders, c.headers) + sizeString(deniedBody, c.body)
}

// sizeField is the size of a message field whose message is n bytes.
func sizeField(num protowire.Number, n int) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

func appendField(b []byte, num protowire.Number, n int) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendVarint(b, uint64(n)) //nolint:gosec // a length
}

// sizeString and appendString leave out an empty string, as proto3 does.
func sizeString(num protowire.Number, s string) int {
	if s == "" {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(len(s))
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func (o headerOption) headerSize() int {
	return sizeString(headerKey, o.key) + sizeString(headerValue, o.value)
}

func (o headerOption) size() int {
	n := sizeField(optionHeader, o.headerSize())
	if o.action != 0 {
		n += protowire.SizeTag(optionAppendAction) + protowire.SizeVarint(uint64(o.action))
	}
	return n
}

func sizeOptions(num protowire.Number, opts []headerOption) int {
	n := 0
	for _, o := range opts {
		n += sizeField(num, o.size())
	}
	return n
}

func appendOptions(b []byte, num protowire.Number, opts []headerOption) []byte {
	for _, o := range opts {
		b = appendField(b, num, o.size())
		b = appendField(b, optionHeader, o.headerSize())
		b = appendString(b, headerKey, o.key)
		b = appendString(b, headerValue, o.value)
		if o.action != 0 {
			b = protowire.AppendTag(b, optionAppendAction, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(o.action))
		}
	}
	return b
}

// checkCodec is the gRPC server's codec: checkRequest and checkReply are
// ours to read and write, every other message (the health service's) is
// the standard proto codec's.
type checkCodec struct {
	proto encoding.CodecV2
}

func newCheckCodec() checkCodec {
	return checkCodec{proto: encoding.GetCodecV2("proto")}
}

func (c checkCodec) Marshal(v any) (mem.BufferSlice, error) {
	if r, ok := v.(*checkReply); ok {
		b, err := r.marshal()
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	return c.proto.Marshal(v)
}

func (c checkCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if r, ok := v.(*checkRequest); ok {
		// The request's strings are copies, so the buffer goes back to
		// the pool.
		buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
		defer buf.Free()
		return r.unmarshal(buf.ReadOnlyData())
	}
	return c.proto.Unmarshal(data, v)
}

// Name is the standard codec's: the content subtype stays "proto".
func (checkCodec) Name() string { return "proto" }
