#!/bin/bash
source "$(dirname "$0")/lib.sh"
tk_volume_root ext4 1G "$TK_TMP/vroot"
tk_volumed_start
tk_vcall tenant.create '{"name":"alpha"}' >/dev/null
for s in 1M 2M 3M 4M 5M 6M 8M 10M 12M 16M; do
	out=$(tk_vcall volume.create "{\"name\":\"v$s\",\"tenant\":\"alpha\",\"size\":\"$s\"}" 2>&1)
	if [ $? != 0 ]; then echo "$s: FAIL $out"; continue; fi
	p="$TK_VROOT/volumes/alpha/v$s"
	w=$(tk_fill "$p/fill")
	img=$(stat -c %s "$TK_VROOT/volumes/.images/alpha/v$s.img")
	echo "$s: wrote $w img $img df $(df -B1 --output=size,avail "$p" | tail -1) $(cat $TK_TMP/dd.err | head -1)"
	rm -f "$p/fill"
done
tk_done
