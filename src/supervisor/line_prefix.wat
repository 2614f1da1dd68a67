;; Puts a prefix before every line of a block of whole lines: the launcher's "[name] line"
;; text format at memory speed. The relay hands over tens of thousands of lines per read;
;; finding each newline and copying each line from JavaScript costs ~200 ns per line, this
;; loop ~50 ns, which is what keeps the launcher's log relay close to `cat`.
;;
;; The caller (line_prefix.ts) owns the layout of the memory: the prefix, an input area
;; followed by 16 bytes of slack (the loop reads 16 bytes at a time and may read past the
;; input), and an output area. Input must start at a line start; output stops after the
;; last whole line that fits, so every output ends at a line boundary.
;;
;; Regenerate line_prefix_wasm.ts after editing: deno task build:wasm
(module
  (memory (export "memory") 2)
  ;; Address one past the last output byte of the latest call.
  (global $produced (export "produced") (mut i32) (i32.const 0))

  ;; Returns how many input bytes were consumed (whole lines only, unless the input's last
  ;; line has no newline: then it is copied as it is).
  (func (export "prefixLines")
    (param $in i32) (param $inLen i32) (param $out i32) (param $outEnd i32)
    (param $prefix i32) (param $prefixLen i32)
    (result i32)
    (local $i i32) (local $end i32) (local $o i32)
    (local $lineIn i32) (local $lineOut i32)
    (local $bytes v128) (local $mask i32) (local $left i32) (local $step i32)
    (local.set $i (local.get $in))
    (local.set $end (i32.add (local.get $in) (local.get $inLen)))
    (local.set $o (local.get $out))
    (local.set $lineIn (local.get $in))
    (local.set $lineOut (local.get $out))
    (block $done
      (loop $line
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (br_if $done
          (i32.gt_u
            (i32.add (i32.add (local.get $o) (local.get $prefixLen)) (i32.const 16))
            (local.get $outEnd)))
        (memory.copy (local.get $o) (local.get $prefix) (local.get $prefixLen))
        (local.set $o (i32.add (local.get $o) (local.get $prefixLen)))
        (loop $sixteen
          ;; No room for this line: stop after the previous one.
          (br_if $done (i32.gt_u (i32.add (local.get $o) (i32.const 16)) (local.get $outEnd)))
          (local.set $bytes (v128.load align=1 (local.get $i)))
          (v128.store align=1 (local.get $o) (local.get $bytes))
          (local.set $mask
            (i8x16.bitmask (i8x16.eq (local.get $bytes) (i8x16.splat (i32.const 10)))))
          (local.set $left (i32.sub (local.get $end) (local.get $i)))
          (if (i32.lt_u (local.get $left) (i32.const 16))
            (then
              ;; Bytes past the input are slack: newlines there do not count.
              (local.set $mask
                (i32.and
                  (local.get $mask)
                  (i32.sub (i32.shl (i32.const 1) (local.get $left)) (i32.const 1))))))
          (if (local.get $mask)
            (then
              ;; The line ends inside these 16 bytes: keep up to its newline, the rest of
              ;; the store is overwritten by the next prefix and line.
              (local.set $step (i32.add (i32.ctz (local.get $mask)) (i32.const 1)))
              (local.set $i (i32.add (local.get $i) (local.get $step)))
              (local.set $o (i32.add (local.get $o) (local.get $step)))
              (local.set $lineIn (local.get $i))
              (local.set $lineOut (local.get $o))
              (br $line)))
          (if (i32.le_u (local.get $left) (i32.const 16))
            (then
              ;; The input ends without a newline: pass the last bytes on as they are.
              (local.set $i (local.get $end))
              (local.set $o (i32.add (local.get $o) (local.get $left)))
              (local.set $lineIn (local.get $i))
              (local.set $lineOut (local.get $o))
              (br $done)))
          (local.set $i (i32.add (local.get $i) (i32.const 16)))
          (local.set $o (i32.add (local.get $o) (i32.const 16)))
          (br $sixteen))))
    (global.set $produced (local.get $lineOut))
    (i32.sub (local.get $lineIn) (local.get $in))))
