// Example rules for smtpscope's YARA analyzer (used by core tests).
// The namespace of these rules is "example" (the file's base name).

rule office_macro_autoexec : office macro {
    meta:
        description = "auto-executing VBA macro entry points with a shell call"
        author = "smtpscope tests"
        severity = 3
    strings:
        $auto1 = "AutoOpen" nocase
        $auto2 = "Document_Open" nocase
        $auto3 = "Workbook_Open" nocase
        $shell = "Shell(" nocase
    condition:
        any of ($auto*) and $shell
}

rule html_smuggling : html {
    meta:
        description = "HTML attachment that builds a file from a blob"
    strings:
        $blob = "new Blob(" nocase
        $save = "msSaveOrOpenBlob" nocase
        $dl = ".download =" nocase
    condition:
        $blob and ($save or $dl)
}
