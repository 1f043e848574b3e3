"""Two-way follow-up with the anonymous tipster, by phone and on the web.

`access` checks a tip number and PIN the same way whatever the answer (no probing, lockout);
`messages` holds what investigators write to the tipster and what the tipster writes back;
`news` tells a report's agencies, without content, that the tipster added information.
"""
