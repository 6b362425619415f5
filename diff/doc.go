// Package diff turns two versions of an order into the typed changes the
// bridge publishes: pure functions, no I/O, no clock, no logging, so that
// what the bridge emits for a pair of orders is decided in one place and can
// be tested exhaustively.
//
// The remote API has no change feed: the bridge polls, keeps the last
// version of every order, and calls Compare(prev, cur, opt). The order's own
// history arrays (statusChanges, priceChanges) carry every transition with
// its id and time, so an order seen late still yields every transition, in
// order, with its real time. What no history explains becomes one Updated
// change listing the fields that differ.
//
// # Rules
//
// An order never seen before (prev nil) yields, per Options.First:
//   - FirstSnapshot: one Snapshot (At zero);
//   - FirstCreated: Created (At = cur.CreatedAt), then one StatusChanged per
//     statusChanges entry after the first and one PriceChanged per
//     priceChanges entry, as below with an empty prev;
//   - FirstNone: nothing.
//
// A First value the package does not define behaves as FirstCreated, so that
// nothing is silently lost.
//
// History. Each history array of cur is sorted by (createdAt, id) and an
// entry whose id repeats an earlier one after sorting is dropped; so the
// arrays may come in any order and with repeated entries. The first entry of
// the sorted statusChanges is the creation record and never yields a
// StatusChanged. Every later entry whose id prev's statusChanges does not
// hold yields StatusChanged{ChangeID: its id, From: the status of the entry
// before it in the sorted history, To: its status}, At = its createdAt.
// Every priceChanges entry (the first included) whose id prev does not hold
// yields PriceChanged{ChangeID, Price, PreviousPrice: the price of the entry
// before it, nil for the first}. An entry of prev that is missing from cur is
// ignored: the API does not delete history, and a change already published
// cannot be taken back. An entry missing in between is simply not seen: the
// next entry's From (PreviousPrice) is the entry before it in cur.
//
// Order. Created or Snapshot comes first; then the StatusChanged and
// PriceChanged changes interleaved by At, a status change before a price
// change at the same instant, then by entry id; Updated comes last.
//
// Updated. The order's JSON documents are compared: Raw, or the typed fields
// marshalled when Raw is nil (an order built in code; comparing such an
// order with one decoded from the API may report fields that differ only in
// how they are written, such as a timestamp's format). Byte-equal documents
// change nothing. Otherwise both are compared key by key: two objects are
// compared key by key again, with dotted paths ("flat.floor",
// "object.address"); anything else (strings, numbers, arrays, or an object
// against a non-object) is compared as a whole value in canonical form. A
// key absent on one side is null on that side, so absent and null are the
// same. Numbers are compared by their literal: 6100000 and 6100000.0 differ,
// and so do 6100000 and "6100000". Keys the spec does not define are
// compared like any other, so a field the API adds later is reported. Three
// top-level keys are never compared: "id", "statusChanges", "priceChanges".
// Two are compared by their typed value and only when the history does not
// explain them:
//   - "status" when cur.Status differs from the status the history explains:
//     the last sorted statusChanges entry's status if any StatusChanged was
//     emitted, else prev.Status. Before is the explained status, After
//     cur.Status.
//   - "finalPrice" when cur.FinalPrice differs from prev.FinalPrice and the
//     latest new price entry (if any) did not set it to cur.FinalPrice.
//     Before is prev.FinalPrice, After cur.FinalPrice.
//
// For these two the typed values decide, so Before and After are the typed
// values written as JSON (a status number; a price, or null when unset): a
// status sent as "2" is reported as 2, an absent status as 0, the value it
// decodes to. For every other field Before and After are the values as
// received, compacted, and null when absent. The Updated change lists the
// fields by Path; its At is zero. Keys are matched exactly as the spec
// spells them ("Status" is an unknown key, even though the decoder of
// salesapi.Order accepts it for "status"), and a key containing a dot makes
// a path ambiguous; the spec has neither.
//
// # Cost
//
// Compare keeps no state and is safe for concurrent use. An order that did
// not change (byte-equal documents, no history id prev lacks) costs a
// bytes.Equal and a scan of the history ids, with no allocation; the
// bridge compares every order of every poll, and almost all are unchanged.
// A changed order is decoded into its members, about the cost of decoding
// it twice.
//
// # Ids
//
// A change id is stable and unique: the same change always has the same id,
// a different change never does. The relay publishes it as Nats-Msg-Id, and
// JetStream drops a message whose id it has seen in the last 24 hours; so a
// re-publish after a crash is dropped, and a later real change must never
// reuse an id, or it would be dropped too.
//
//	Created        order/<id>/created
//	Snapshot       order/<id>/snapshot/<h>       h = hash(cur)
//	StatusChanged  order/<id>/status/<changeId>
//	PriceChanged   order/<id>/price/<changeId>
//	Updated        order/<id>/updated/<rev>-<h>  rev = PrevRev+1, h = hash(prev, cur)
//
// hash is the first 16 hex digits of the SHA-256 of the documents in
// canonical form (decoded with UseNumber and marshalled again, which sorts
// object keys), joined by a NUL byte. Created happens once per order, and a
// history entry once per entry id, so those ids need nothing more. A
// Snapshot names its content: a re-snapshot of identical content is the same
// change and is dropped, one of different content is not.
//
// An Updated change has no id of its own from the API. The content hash
// alone would not do: a value that oscillates, A→B→A→B, makes the same
// transition A→B twice, and the second would be dropped as a duplicate of
// the first. The store's revision alone would not do either: after the state
// file is lost the revisions restart, and revision 3 of the new file would
// reuse the id of revision 3 of the old one for a different transition. With
// both, two Updated changes share an id only when they are the same
// transition (same before, same after) reached at the same revision, which
// is the same change re-published.
package diff
