# smtpscope: SMTP session files for smtpscope's collector. See README.md.
@load ./smtpscope
