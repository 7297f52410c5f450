(component
  (core module $m (func (export "d")))
  (core instance $i (instantiate $m))
  (func (export "describe") (canon lift (core func $i "d")))
)
