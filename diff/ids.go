package diff

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"

	"github.com/salesbridge/salesbridge/salesapi"
)

// orderPrefix is the start of every change id of an order: "order/<id>/".
func orderPrefix(orderID int64) string {
	return "order/" + strconv.FormatInt(orderID, 10) + "/"
}

// snapshotID is the id of the Snapshot of cur: it names its content, so that
// a re-snapshot of the same content is the same change and a snapshot of
// other content is not.
func snapshotID(cur *salesapi.Order) string {
	m := members(cur, document(cur))
	return orderPrefix(cur.ID) + "snapshot/" + digest(m)
}

// updatedID is the id of the Updated change of prev → cur, given by the
// members of their documents: the revision it creates and the transition's
// content.
func updatedID(orderID int64, prevRev uint64, prev, cur map[string]json.RawMessage) string {
	return orderPrefix(orderID) + "updated/" + strconv.FormatUint(prevRev+1, 10) + "-" + digest(prev, cur)
}

// digest is the first 16 hex digits of the SHA-256 of the documents in
// canonical form joined by a NUL byte, which no compact JSON document
// contains (a string holds it only escaped), so that two different lists of
// documents never hash the same input.
func digest(docs ...map[string]json.RawMessage) string {
	var buf []byte
	for i, m := range docs {
		if i > 0 {
			buf = append(buf, 0)
		}
		// The members come from a document that decoded, so every value is
		// valid JSON and appendMembers cannot fail; were it to, the partial
		// form would still be the same for the same input.
		buf, _ = appendMembers(buf, m)
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:8])
}
