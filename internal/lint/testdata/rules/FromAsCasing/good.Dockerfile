from alpine:3.20 as build
from alpine:3.20
user nobody
