package handlers

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/clerk-forward-auth/clerk-forward-auth/authz"
	"github.com/clerk-forward-auth/clerk-forward-auth/clerk"
)

// checkResponse is replyTo as Envoy reads it: our encoding, decoded by
// go-control-plane. The tests that look into a CheckResponse go through
// it, so they hold the wire encoding too.
func checkResponse(d authz.Decision) (*authv3.CheckResponse, error) {
	r, err := replyTo(d)
	if err != nil {
		return nil, err
	}
	return decodeReply(r)
}

// okResponse is allowReply as Envoy reads it.
func okResponse(d authz.Decision) *authv3.CheckResponse {
	resp, err := decodeReply(allowReply(d))
	if err != nil {
		panic(err)
	}
	return resp
}

func decodeReply(r *checkReply) (*authv3.CheckResponse, error) {
	b, err := r.marshal()
	if err != nil {
		return nil, err
	}
	resp := &authv3.CheckResponse{}
	if err := proto.Unmarshal(b, resp); err != nil {
		return nil, fmt.Errorf("decoding our CheckResponse: %w", err)
	}
	return resp, nil
}

// refCheckResponse is the CheckResponse builder the service had when it
// used go-control-plane's types: what our encoding must decode to.
func refCheckResponse(d authz.Decision) (*authv3.CheckResponse, error) {
	switch d.Outcome {
	case authz.Allow:
		return refOKResponse(d), nil
	case authz.Unavailable, authz.Misconfigured:
		return nil, fmt.Errorf("no response for %v", d.Outcome)
	case authz.Unauthenticated, authz.SignIn, authz.Handshake, authz.Forbidden:
	}
	code := codes.Unauthenticated
	if d.Outcome == authz.Forbidden {
		code = codes.PermissionDenied
	}
	rec := newRecorder()
	render(rec, d, dialect{redirects: true})
	return refDeniedResponse(code, string(d.Reason), rec), nil
}

func refOKResponse(d authz.Decision) *authv3.CheckResponse {
	ok := &authv3.OkHttpResponse{}
	set := func(name, v string) {
		v = asHTTPWritesIt(v)
		if v == "" {
			ok.HeadersToRemove = append(ok.HeadersToRemove, name)
			return
		}
		ok.Headers = append(ok.Headers, refHeaderOption(name, v, corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD))
	}
	for i, v := range identityValues(d.Identity) {
		set(identityHeadersLower[i], v)
	}
	if d.Identity.ProfileHeaders {
		set(lowerHeaderUserEmail, d.Identity.Email)
		set(lowerHeaderUserName, d.Identity.Name)
	}
	for _, c := range d.SetCookies {
		ok.ResponseHeadersToAdd = append(ok.ResponseHeadersToAdd, refHeaderOption("set-cookie", c, corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD))
	}
	return &authv3.CheckResponse{
		Status:       &rpcstatus.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: ok},
	}
}

func refDeniedResponse(code codes.Code, msg string, rec *recorder) *authv3.CheckResponse {
	denied := &authv3.DeniedHttpResponse{
		Status: &typev3.HttpStatus{Code: typev3.StatusCode(rec.status)}, //nolint:gosec // an HTTP status: 3 digits
		Body:   rec.body.String(),
	}
	names := make([]string, 0, len(rec.header))
	for k := range rec.header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		name := strings.ToLower(k)
		action := corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
		if name == "set-cookie" {
			action = corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD
		}
		for _, v := range rec.header[k] {
			denied.Headers = append(denied.Headers, refHeaderOption(name, v, action))
		}
	}
	return &authv3.CheckResponse{
		Status:       &rpcstatus.Status{Code: int32(code), Message: msg}, //nolint:gosec // gRPC codes are 0..16
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: denied},
	}
}

func refHeaderOption(key, value string, action corev3.HeaderValueOption_HeaderAppendAction) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: key, Value: value}, AppendAction: action}
}

// TestCheckReplyDecodesAsTheGeneratedBuilder: every reply the service
// sends decodes, with go-control-plane, to the message the builder on its
// generated types made: the same fields, repeated ones in the same order.
func TestCheckReplyDecodesAsTheGeneratedBuilder(t *testing.T) {
	cookies := []string{"__session=a; Path=/", "__client_uat=1; Path=/", "__clerk_handshake=; Max-Age=0"}
	user := authz.Identity{UserID: "user_1", SessionID: "sess_1", TokenType: "session_token", OrgID: "org_1", OrgSlug: "acme", OrgRole: "org:admin", OrgPermissions: []string{"org:invoices:read"}}
	profile := user
	profile.ProfileHeaders, profile.Email, profile.Name = true, "ada@example.com", "Ada\r\nLovelace "
	tests := []struct {
		name string
		d    authz.Decision
	}{
		{"allow", authz.Decision{Outcome: authz.Allow, Identity: user}},
		{"allow, bare identity", authz.Decision{Outcome: authz.Allow, Identity: authz.Identity{UserID: "user_1"}}},
		{"allow with profile headers", authz.Decision{Outcome: authz.Allow, Identity: profile}},
		{"allow with profile headers, name unknown", authz.Decision{Outcome: authz.Allow, Identity: authz.Identity{UserID: "user_1", ProfileHeaders: true, Email: "ada@example.com"}}},
		{"allow setting cookies", authz.Decision{Outcome: authz.Allow, Identity: user, SetCookies: cookies}},
		{"unauthenticated", authz.Decision{Outcome: authz.Unauthenticated, Reason: "session-token-and-uat-missing"}},
		{"sign-in redirect", authz.Decision{Outcome: authz.SignIn, Reason: "session-token-and-uat-missing", Location: "https://accounts.example.test/sign-in?redirect_url=https%3A%2F%2Fapp.example.test%2F"}},
		{"handshake with cookies", authz.Decision{Outcome: authz.Handshake, Reason: "session-token-expired", Location: "https://app.example.test/", SetCookies: cookies}},
		{"forbidden", authz.Decision{Outcome: authz.Forbidden, Reason: "role-missing", Identity: user}},
		{"reverification", authz.Decision{Outcome: authz.Forbidden, Reason: authz.ReasonReverificationRequired, Identity: user, Reverification: &clerk.Reverification{Level: "second_factor", AfterMinutes: 10}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := refCheckResponse(tt.d)
			if err != nil {
				t.Fatal(err)
			}
			got, err := checkResponse(tt.d)
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, want) {
				t.Errorf("decoded\n%v\nwant\n%v", got, want)
			}
		})
	}
	t.Run("bad request", func(t *testing.T) {
		rec := newRecorder()
		writeJSON(rec, http.StatusBadRequest, "bad_request", "missing attributes.request.http")
		want := refDeniedResponse(codes.InvalidArgument, "bad_request", rec)
		got, err := decodeReply(deniedReply(codes.InvalidArgument, "bad_request", rec))
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, want) {
			t.Errorf("decoded\n%v\nwant\n%v", got, want)
		}
	})
}

// TestCheckReplyRefusesInvalidUTF8: proto.Marshal refuses a string that
// is not UTF-8, and Envoy would refuse the message; so does our encoding.
func TestCheckReplyRefusesInvalidUTF8(t *testing.T) {
	r := allowReply(authz.Decision{Outcome: authz.Allow, Identity: authz.Identity{UserID: "user_\xff"}})
	if _, err := r.marshal(); err == nil {
		t.Fatal("encoded a header value that is not UTF-8")
	}
}

// TestCheckRequestSchemaMatchesEnvoy: the decoder's schema lists every
// string, message and map field of the CheckRequest tree, as the
// generated descriptors do, so it refuses what proto.Unmarshal refuses.
func TestCheckRequestSchemaMatchesEnvoy(t *testing.T) {
	seen := map[protoreflect.FullName]bool{}
	var walk func(md protoreflect.MessageDescriptor, s wireSchema)
	walk = func(md protoreflect.MessageDescriptor, s wireSchema) {
		if seen[md.FullName()] {
			return
		}
		seen[md.FullName()] = true
		fields := md.Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			var got wireField
			if int(fd.Number()) < len(s) {
				got = s[fd.Number()]
			}
			var want wireKind
			var child protoreflect.MessageDescriptor
			switch {
			case fd.IsList() && fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.StringKind:
				t.Errorf("%s: repeated %v: not handled by the decoder", fd.FullName(), fd.Kind())
			case fd.IsMap() && fd.MapValue().Kind() == protoreflect.MessageKind:
				want, child = wireMessageMap, fd.MapValue().Message()
			case fd.IsMap() && fd.MapKey().Kind() == protoreflect.StringKind && fd.MapValue().Kind() == protoreflect.StringKind:
				want = wireStringMap
			case fd.IsMap():
				t.Errorf("%s: map<%v, %v>: not handled by the decoder", fd.FullName(), fd.MapKey().Kind(), fd.MapValue().Kind())
			case fd.Kind() == protoreflect.MessageKind:
				want, child = wireMessage, fd.Message()
			case fd.Kind() == protoreflect.GroupKind:
				t.Errorf("%s: a group: not handled by the decoder", fd.FullName())
			case fd.Kind() == protoreflect.StringKind:
				want = wireString
			}
			if got.kind == wireBytes && fd.Kind() == protoreflect.BytesKind {
				continue // read by the service
			}
			if got.kind != want {
				t.Errorf("%s (%d): schema kind %d, want %d", fd.FullName(), fd.Number(), got.kind, want)
				continue
			}
			if child != nil {
				walk(child, *got.msg)
			}
		}
		for n, f := range s {
			if f.kind != 0 && fields.ByNumber(protowire.Number(n)) == nil {
				t.Errorf("%s: schema has field %d, the message does not", md.FullName(), n)
			}
		}
	}
	walk((&authv3.CheckRequest{}).ProtoReflect().Descriptor(), checkRequestSchema)
}

// readByProtobuf is what the service reads of a CheckRequest decoded by
// protobuf-go.
func readByProtobuf(m *authv3.CheckRequest) *checkRequest {
	h := m.GetAttributes().GetRequest().GetHttp()
	r := &checkRequest{
		hasHTTP: h != nil, method: h.GetMethod(), scheme: h.GetScheme(), host: h.GetHost(), path: h.GetPath(),
		headers: h.GetHeaders(), hasHeaderMap: h.GetHeaderMap() != nil,
		sourceAddress: m.GetAttributes().GetSource().GetAddress().GetSocketAddress().GetAddress(),
		extensions:    m.GetAttributes().GetContextExtensions(),
	}
	for _, hv := range h.GetHeaderMap().GetHeaders() {
		r.headerMap = append(r.headerMap, checkHeaderValue{key: hv.GetKey(), value: hv.GetValue(), raw: string(hv.GetRawValue())})
	}
	return r
}

// diffCheckRequests names the fields where a and b differ.
func diffCheckRequests(a, b *checkRequest) []string {
	var diff []string
	add := func(name string, equal bool, x, y any) {
		if !equal {
			diff = append(diff, fmt.Sprintf("%s: %q != %q", name, x, y))
		}
	}
	add("http set", a.hasHTTP == b.hasHTTP, fmt.Sprint(a.hasHTTP), fmt.Sprint(b.hasHTTP))
	add("method", a.method == b.method, a.method, b.method)
	add("scheme", a.scheme == b.scheme, a.scheme, b.scheme)
	add("host", a.host == b.host, a.host, b.host)
	add("path", a.path == b.path, a.path, b.path)
	add("headers", maps.Equal(a.headers, b.headers), a.headers, b.headers)
	add("header_map set", a.hasHeaderMap == b.hasHeaderMap, fmt.Sprint(a.hasHeaderMap), fmt.Sprint(b.hasHeaderMap))
	add("header_map", slices.Equal(a.headerMap, b.headerMap), fmt.Sprint(a.headerMap), fmt.Sprint(b.headerMap))
	add("source address", a.sourceAddress == b.sourceAddress, a.sourceAddress, b.sourceAddress)
	add("context_extensions", maps.Equal(a.extensions, b.extensions), a.extensions, b.extensions)
	return diff
}

// checkRequestSeeds are realistic CheckRequests and the ways protobuf
// lets them vary: header_map with raw values, extensions, unknown fields
// of every wire type, fields repeated, the Address oneof switched, strings
// the service does not read.
func checkRequestSeeds(t testing.TB) [][]byte {
	marshal := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	plain := envoyCheck("GET", "/dashboard?tab=1", []string{"Authorization", "Bearer abc", "Cookie", "__session=a", "Cookie", "__client_uat=1"}, map[string]string{"role": "org:admin,org:billing", "org": "acme"})
	raw := envoyCheck("POST", "/api/x", nil, nil)
	h := raw.GetAttributes().GetRequest().GetHttp()
	h.HeaderMap = &corev3.HeaderMap{}
	for k, v := range h.GetHeaders() {
		h.HeaderMap.Headers = append(h.HeaderMap.Headers, &corev3.HeaderValue{Key: k, RawValue: []byte(v)})
	}
	h.HeaderMap.Headers = append(h.HeaderMap.Headers,
		&corev3.HeaderValue{Key: "authorization", Value: "Bearer v", RawValue: []byte("Bearer \xff\x00raw")},
		&corev3.HeaderValue{Key: "x-only-value", Value: "v"})
	h.Headers = nil
	meta := envoyCheck("GET", "/", nil, nil)
	st, err := structpb.NewStruct(map[string]any{"a": []any{"x", 1.5, map[string]any{"b": true}}})
	if err != nil {
		t.Fatal(err)
	}
	anyv, err := anypb.New(st)
	if err != nil {
		t.Fatal(err)
	}
	meta.Attributes.MetadataContext = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"f": st}, TypedFilterMetadata: map[string]*anypb.Any{"t": anyv}}
	meta.Attributes.TlsSession = &authv3.AttributeContext_TLSSession{Sni: "app.example.test"}
	meta.Attributes.Source.Principal = "spiffe://cluster.local/ns/a/sa/b"
	meta.Attributes.Source.Labels = map[string]string{"app": "web"}

	// Small ones, for the fuzzer's mutations to reach every field.
	small := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{Address: "1.2.3.4"}}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "GET", Scheme: "https", Host: "h", Path: "/", Headers: map[string]string{"a": "b"},
			HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{{Key: "k", Value: "v", RawValue: []byte("r")}}},
		}},
		ContextExtensions: map[string]string{"k": "v"},
	}}
	seeds := [][]byte{marshal(plain), marshal(raw), marshal(meta), marshal(small), nil}
	// Unknown fields of every wire type, at the top and in the http request.
	unknown := marshal(plain)
	unknown = protowire.AppendTag(unknown, 99, protowire.VarintType)
	unknown = protowire.AppendVarint(unknown, 1<<40)
	unknown = protowire.AppendTag(unknown, 100, protowire.Fixed32Type)
	unknown = protowire.AppendFixed32(unknown, 7)
	unknown = protowire.AppendTag(unknown, 101, protowire.Fixed64Type)
	unknown = protowire.AppendFixed64(unknown, 7)
	unknown = protowire.AppendTag(unknown, 102, protowire.StartGroupType)
	unknown = protowire.AppendTag(unknown, 1, protowire.BytesType)
	unknown = protowire.AppendString(unknown, "in a group")
	unknown = protowire.AppendTag(unknown, 102, protowire.EndGroupType)
	seeds = append(seeds, unknown)
	// A field repeated: the second attributes merges into the first, its
	// method winning, its headers added; the source switches to a pipe.
	second := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: "/run/envoy.sock"}}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "DELETE", Headers: map[string]string{"authorization": "Bearer second", "x-new": "1"},
		}},
		ContextExtensions: map[string]string{"org": "other"},
	}}
	seeds = append(seeds, append(marshal(plain), marshal(second)...), append(marshal(second), marshal(raw)...))
	// A known field with another wire type is an unknown field.
	wrongType := protowire.AppendTag(marshal(plain), 1, protowire.VarintType)
	seeds = append(seeds, protowire.AppendVarint(wrongType, 3))
	// Invalid UTF-8 in a string the service does not read.
	bad := envoyCheck("GET", "/", nil, nil)
	bad.Attributes.Destination.Principal = "\xff"
	seeds = append(seeds, []byte(strings.Replace(string(marshal(envoyCheck("GET", "/", nil, nil))), "10.0.0.2", "10.0.0.\xff", 1)))
	if b, err := (proto.MarshalOptions{}).Marshal(bad); err == nil {
		seeds = append(seeds, b)
	}
	return seeds
}

// FuzzCheckRequestWireAgreesWithProtobuf: for any bytes, our decoder and
// proto.Unmarshal into go-control-plane's CheckRequest accept or refuse
// alike, and agree on every field the service reads.
func FuzzCheckRequestWireAgreesWithProtobuf(f *testing.F) {
	for _, s := range checkRequestSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m := &authv3.CheckRequest{}
		refErr := proto.Unmarshal(b, m)
		var got checkRequest
		err := got.unmarshal(b)
		if (err == nil) != (refErr == nil) {
			t.Fatalf("ours: %v; protobuf-go: %v", err, refErr)
		}
		if err != nil {
			return
		}
		if diff := diffCheckRequests(&got, readByProtobuf(m)); diff != nil {
			t.Fatalf("ours != protobuf-go:\n%s", strings.Join(diff, "\n"))
		}
	})
}

// TestCheckRequestWireRecursionLimit: nesting past protobuf-go's
// recursion limit is refused by both decoders, nesting up to it accepted
// by both.
func TestCheckRequestWireRecursionLimit(t *testing.T) {
	field := func(num protowire.Number, v []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), v)
	}
	// attributes.metadata_context.filter_metadata["f"] is a Struct whose
	// fields["k"] is a Value holding lists, lists levels deep, and at the
	// bottom the Value tail.
	nest := func(lists int, tail []byte) []byte {
		v := tail
		for range lists {
			v = field(6, field(1, v)) // Value.list_value, ListValue.values
		}
		st := field(1, append(field(1, []byte("k")), field(2, v)...))
		meta := field(1, append(field(1, []byte("f")), field(2, st)...))
		return field(1, field(11, meta))
	}
	// A map entry is a level even when its field arrives with another wire
	// type: a Struct whose fields field is a varint.
	structOfVarint := field(5, protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 1))
	for _, tail := range [][]byte{nil, structOfVarint} {
		accepted, refused := 0, 0
		for lists := 4990; lists < 5000; lists++ {
			b := nest(lists, tail)
			refErr := proto.Unmarshal(b, &authv3.CheckRequest{})
			var r checkRequest
			err := r.unmarshal(b)
			if (err == nil) != (refErr == nil) {
				t.Errorf("%d lists deep, tail %x: ours %v, protobuf-go %v", lists, tail, err, refErr)
			}
			if refErr == nil {
				accepted++
			} else {
				refused++
			}
		}
		if accepted == 0 || refused == 0 {
			t.Errorf("tail %x: %d accepted, %d refused: the limit is not in the range tried", tail, accepted, refused)
		}
	}
}

// BenchmarkCheckRequestDecode is one Envoy CheckRequest decoded by our
// decoder and by protobuf-go into go-control-plane's type.
func BenchmarkCheckRequestDecode(b *testing.B) {
	msg, err := proto.Marshal(envoyCheck("GET", "/dashboard?tab=1", []string{"Authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "Cookie", "__session=a; __client_uat=1"}, nil))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("ours", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var r checkRequest
			if err := r.unmarshal(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("protobuf-go", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := proto.Unmarshal(msg, &authv3.CheckRequest{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
