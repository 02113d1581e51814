/* default_text.S - embeds calib/default-calibration.txt in the binary, so that
 * activation-aware methods work without --calib and without files beside the
 * program.  NUL-terminated; gf_default_calib_len is its length in bytes. */
    .section .rodata
    .globl gf_default_calib_text
    .globl gf_default_calib_end
gf_default_calib_text:
    .incbin "calib/default-calibration.txt"
gf_default_calib_end:
    .byte 0
    .section .note.GNU-stack,"",%progbits
