// Package label makes and checks the signed QR labels that producers print beside the 三同 mark.
package label
