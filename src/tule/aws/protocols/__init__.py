"""One module per AWS wire protocol: parse a request into the input shape, serialize the output
shape or an error. All of them are driven by botocore's service models."""
