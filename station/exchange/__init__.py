"""What a station exchanges with the centre: its identity, the centre's keys it trusts, and the
signed, encrypted envelope of every packet (README: "From the field to the centre")."""
