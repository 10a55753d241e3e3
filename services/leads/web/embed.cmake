# Writes the page script (IN) as a C array into OUT, so the service serves
# the script it was built with and needs no file at run time.
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x..,){16})" "\\1\n" bytes "${bytes}")
file(WRITE ${OUT} "/* Generated from web/clinicflow-leads.js by web/embed.cmake. */\n"
    "#include <stddef.h>\n"
    "extern const unsigned char leads_snippet_js[];\n"
    "extern const size_t leads_snippet_js_len;\n"
    "const unsigned char leads_snippet_js[] = {\n${bytes}0x00};\n"
    "const size_t leads_snippet_js_len = sizeof(leads_snippet_js) - 1;\n")
