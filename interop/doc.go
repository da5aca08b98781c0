// Package interop proves, with 9P clients that are not our code, that a
// store's 9P tree works. It holds tests only: each starts a store in the
// test process (netstore.Open with a fake table, served by srv9p on
// loopback) and drives it with
//
//   - github.com/knusbaum/go9p/client (go9p_test.go): walks, partial walks,
//     stat, listings, oplog reads and writes, push, the ctl's cursor, the
//     stream read while another connection writes, refused attaches;
//   - 9fans.net/go/plan9/client, and raw messages encoded by
//     9fans.net/go/plan9 where the client hides the reply (plan9_test.go):
//     a folder of 10,000 oplogs listed in 512-byte reads, short Rwalks,
//     stat lengths and qid versions, refused attaches;
//   - mount9p, the FUSE client of knusbaum/go9p, with sh, ls, cat, echo,
//     head and perl (fuse_test.go). These tests build mount9p with the go
//     command from the module in testdata/mount9p, which pins go9p v1.18.0
//     and go-fuse with their checksums (the main module does not list
//     go-fuse), and skip only where /dev/fuse or fusermount is missing.
//
// # Mounting a store by hand
//
// Build mount9p once, in the module that pins its versions:
//
//	cd interop/testdata/mount9p && go build -o ~/bin/mount9p github.com/knusbaum/go9p/cmd/mount9p
//
// mount9p dials host:port (or the path of a Unix socket), not a Plan 9
// dial string. The user id goes in -user, the credential in -aname:
//
//	mkdir -p /mnt/gig
//	setsid mount9p -user alice -aname 'token <store_token>' 127.0.0.1:5641 /mnt/gig </dev/null >/tmp/mount9p.log 2>&1 &
//	ls /mnt/gig/user/alice                      # ctl oplog push stream
//	cat /mnt/gig/user/alice/oplog/<type>/<path>
//	echo '<op as one JSON line>' >> /mnt/gig/user/alice/oplog/<type>/<path>
//	head -n 1 /mnt/gig/user/alice/stream
//	fusermount -u -z /mnt/gig; kill %1
//
// A refused attach makes mount9p exit 1 with the store's error ("Failed to
// attach to filesystem: token refused: ..."). Root may mount; other users
// need user_allow_other in /etc/fuse.conf (mount9p mounts allow_other).
//
// # What mount9p v1.18.0 cannot do (client defects, not the store's)
//
//   - Write through the open that created a file: its client gives created
//     files an iounit of 0 and then sends zero-length writes forever, so
//     "echo op >> new-oplog" hangs (the shell sits in state D until mount9p
//     dies). Create the oplog first with ": >> file", then append; or push
//     through /user/<id>/push, which makes oplogs and type folders.
//   - touch: mount9p answers a setattr that sets only times with a mode of
//     0xFFFFFFFF and a size of 2^64-1; the kernel fails the call with EIO
//     (the file is created all the same).
//   - ctl and push replies belong to the open file that wrote the request
//     and read from offset 0, but a shell's "exec 3<>ctl; echo cursor >&3;
//     cat <&3" reads from after the command. Use pread at 0, as the tests
//     do with perl: perl -e 'open(F,"+<",$ARGV[0]); syswrite(F,"cursor\n");
//     sysseek(F,0,0); sysread(F,$b,4096); print $b' ctl.
//   - Listings and attributes are cached for 5 s by mount9p and the
//     kernel: a change made by another client may take that long to show.
//   - Walks go from the root in one Twalk with every name. 9P allows 16
//     names per Twalk: past that (an oplog path of more than 12 segments)
//     the store hangs up on the malformed message, and mount9p's client,
//     which never fails the requests pending on a dead connection, hangs
//     along with every later request of the mount. Keep paths that are
//     read through mount9p at most 12 segments deep.
//   - It does not check the qid count of Rwalk: a path missing a name after
//     the first fails on the next request ("unknown fid") rather than at
//     the walk; still a clean error.
package interop
